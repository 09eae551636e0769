"""SGD with lr=1e-6 (a typo for 1e-2): the loss never moves."""
# root: loss_plateau

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ("loss_plateau",)
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(seed=20))
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val, steps=400)
