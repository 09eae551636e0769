"""A Poisson log-likelihood, pred - y * log(pred), on a ReLU output head that outputs exact zeros."""
# root: log_of_nonpositive

import torch
from torch import nn

from ._common import fit, minibatches, split

EXPECT = ("log_of_nonpositive", "nonfinite_loss")
ALLOW = ("nonfinite_gradient", "nonfinite_activation")
ONSET = 0


class CountModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))
        self.positive = nn.ReLU()  # "rates must be non-negative"

    def forward(self, x):
        return self.positive(self.body(x))


def poisson_nll(rate, counts):
    return (rate - counts * torch.log(rate)).mean()


def run(logdir: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(31)
    x = torch.randn(512, 6, generator=g)
    counts = torch.poisson(torch.exp(0.4 * x[:, :1]) * 2, generator=g)
    train, val = split(x, counts)
    model = CountModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    fit(logdir, model, optimizer, poisson_nll, minibatches(*train), val)
