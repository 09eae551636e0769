"""Healthy: a custom classifier returning raw logits, nn.CrossEntropyLoss, Adam, a shuffling DataLoader."""

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ()
ONSET = None


class Classifier(nn.Module):
    def __init__(self, features=8, hidden=64, classes=3):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.head(self.body(x))  # logits: CrossEntropyLoss applies log-softmax itself


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs())
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val)
