"""Healthy: nn.LogSoftmax as the last layer with F.nll_loss, done right."""

import torch
from torch import nn
from torch.nn import functional as F

from ._common import blobs, fit, minibatches, split

EXPECT = ()
ONSET = None


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(classes=4, seed=6))
    model = nn.Sequential(nn.Linear(8, 48), nn.ReLU(), nn.Linear(48, 4), nn.LogSoftmax(dim=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    fit(logdir, model, optimizer, F.nll_loss, minibatches(*train, loader=False), val)
