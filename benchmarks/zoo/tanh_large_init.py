"""A wide tanh MLP initialized with nn.init.normal_(w, std=1.0): the hidden units sit at +-1."""
# root: saturated_activation

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ("saturated_activation",)
ALLOW = ("loss_plateau", "vanishing_gradient")
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(features=16, seed=47))
    model = nn.Sequential(nn.Linear(16, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 3))
    for module in model:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=1.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val, steps=150)
