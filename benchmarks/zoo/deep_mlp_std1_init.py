"""A 10-layer ReLU MLP initialized with nn.init.normal_(w, std=1.0): activations and gradients blow up layer by layer."""
# root: exploding_gradient

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ("exploding_gradient",)
ALLOW = ("loss_divergence", "nonfinite_loss", "nonfinite_gradient", "nonfinite_activation", "dead_activation",
         "loss_spike")
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*linear_targets(seed=41))
    layers = [nn.Linear(8, 64), nn.ReLU()]
    for _ in range(9):
        layers += [nn.Linear(64, 64), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(64, 1))
    for module in model:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=1.0)  # "weights ~ N(0, 1)"
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train), val, steps=100)
