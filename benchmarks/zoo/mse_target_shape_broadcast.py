"""nn.MSELoss on predictions [N, 1] against targets [N]: silently broadcast to [N, N]."""
# root: target_shape_mismatch

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ("target_shape_mismatch",)
ALLOW = ("loss_plateau",)  # an [N, N] loss can only be fit by predicting the batch mean
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = linear_targets(seed=15)
    train, val = split(x, y.squeeze(1))  # y = df["price"].values: a flat array
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train), val)
