"""Healthy: an MLP regression trained with momentum SGD on normalized features."""

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ()
ONSET = None


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*linear_targets())
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train, loader=False), val)
