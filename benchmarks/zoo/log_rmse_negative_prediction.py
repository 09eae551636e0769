"""A log-space error, (log(pred) - log(y))**2, on an unconstrained linear output that starts out negative."""
# root: log_of_nonpositive

import torch
from torch import nn

from ._common import fit, minibatches, split

EXPECT = ("log_of_nonpositive", "nonfinite_loss")
ALLOW = ("nonfinite_gradient", "nonfinite_activation")
ONSET = 0


def log_squared_error(pred, target):
    return ((torch.log(pred) - torch.log(target)) ** 2).mean()


def run(logdir: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(30)
    x = torch.randn(512, 8, generator=g)
    prices = torch.exp(x[:, :2].sum(1, keepdim=True) * 0.5) * 3  # positive and skewed: why a log error was picked
    train, val = split(x, prices)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(logdir, model, optimizer, log_squared_error, minibatches(*train), val)
