"""A transformer classifier whose forward returns F.softmax(logits), trained with F.cross_entropy."""
# root: softmax_before_cross_entropy

import torch
from torch import nn
from torch.nn import functional as F

from ._common import fit, minibatches, sequences, split

EXPECT = ("softmax_before_cross_entropy",)
ALLOW = ("loss_plateau",)
ONSET = 0


class SequenceClassifier(nn.Module):
    def __init__(self, features=4, width=16):
        super().__init__()
        self.embed = nn.Linear(features, width)
        layer = nn.TransformerEncoderLayer(width, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.classify = nn.Linear(width, 2)

    def forward(self, x):
        logits = self.classify(self.encoder(self.embed(x)).mean(dim=1))
        return F.softmax(logits, dim=-1)  # "probabilities are nicer to look at"


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*sequences(seed=14))
    model = SequenceClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, F.cross_entropy, minibatches(*train), val, steps=250)
