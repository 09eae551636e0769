"""Healthy: batches of 4 with 20% label noise: a very noisy but steadily learning loss curve."""

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ()
ONSET = None


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = blobs(n=800, seed=4)
    g = torch.Generator().manual_seed(5)
    noisy = torch.rand(len(y), generator=g) < 0.2
    y[noisy] = torch.randint(0, 3, (int(noisy.sum()),), generator=g)  # annotators disagree
    train, val = split(x, y)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train, batch=4), val, steps=400)
