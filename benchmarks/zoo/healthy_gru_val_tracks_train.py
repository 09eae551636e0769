"""Healthy: a GRU sequence classifier whose validation loss tracks its training loss."""

import torch
from torch import nn

from ._common import fit, minibatches, sequences, split

EXPECT = ()
ONSET = None


class GRUClassifier(nn.Module):
    def __init__(self, features=4, hidden=24):
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x):
        _, last = self.gru(x)
        return self.head(last[-1])


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*sequences(n=768))
    model = GRUClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val, steps=250)
