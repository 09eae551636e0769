"""A deep tanh MLP initialized with normal(0, 0.01) "small random weights": the signal and its gradient die out."""
# root: vanishing_gradient

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ("vanishing_gradient",)
ALLOW = ("loss_plateau",)
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*linear_targets(seed=44))
    layers = []
    for width_in in (8, 64, 64, 64, 64, 64):
        layers += [nn.Linear(width_in, 64), nn.Tanh()]
    model = nn.Sequential(*layers, nn.Linear(64, 1))
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train), val, steps=200)
