"""Healthy: binary classification with BCEWithLogitsLoss on logits, targets shaped like the output."""

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ()
ONSET = None


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(8, 32)
        self.act = nn.ReLU()
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, score = linear_targets(seed=7, noise=0.5)
    labels = (score > 0).float()  # [N, 1], like the model's output
    train, val = split(x, labels)
    model = Scorer()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    fit(logdir, model, optimizer, nn.BCEWithLogitsLoss(), minibatches(*train), val)
