"""Adam with lr=0.3 on a ReLU MLP: the first updates knock the hidden units into the dead zone for good."""
# root: dead_activation

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ("dead_activation",)
ALLOW = ("loss_plateau", "loss_divergence", "loss_spike", "vanishing_gradient", "exploding_gradient")
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*linear_targets(seed=46))
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.3)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train), val, steps=200)
