"""A MAPE loss written without an eps, on sales data where some targets are exactly zero."""
# root: division_by_zero

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

FIRST_ZERO, BATCH = 100, 32
EXPECT = ("division_by_zero", "nonfinite_loss")
ALLOW = ("nonfinite_gradient", "nonfinite_activation")
ONSET = FIRST_ZERO // BATCH


def mape(pred, target):
    return ((pred - target).abs() / target.abs()).mean()


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = linear_targets(seed=28)
    y[FIRST_ZERO::50] = 0.0  # days with no sales
    train, val = split(x, y)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(logdir, model, optimizer, mape, minibatches(*train, batch=BATCH, loader=False), val)
