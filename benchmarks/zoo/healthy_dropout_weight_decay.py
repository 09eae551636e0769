"""Healthy: dropout and weight decay; the validation loss (eval mode) sits below the training loss."""

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ()
ONSET = None


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(n=640, features=16, classes=5, seed=3))
    model = nn.Sequential(
        nn.Linear(16, 128), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(128, 128), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(128, 5),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val)
