"""A 256-wide MLP trained for 400 steps on 72 noisy samples: it memorizes them."""
# root: overfitting

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ("overfitting",)
ONSET = 10  # measured: the validation loss bottoms out at its first check (step 9), then climbs


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = blobs(n=96, seed=3)
    y[::2] = torch.randint(0, 3, (48,), generator=torch.Generator().manual_seed(4))  # label noise
    train, val = split(x, y)
    model = nn.Sequential(nn.Linear(8, 256), nn.ReLU(), nn.Linear(256, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train, batch=24), val, steps=400)
