"""Healthy: a noisy regression in batches of 8 under a triangular CyclicLR (period 20): it wobbles and learns."""

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ()
ONSET = None


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*linear_targets(n=800, seed=8, noise=0.5))
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=0.001, max_lr=0.03, step_size_up=10)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train, batch=8), val, 500, scheduler)
