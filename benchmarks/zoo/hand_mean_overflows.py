"""A hand-written mean, sum / batch size, at a learning rate far too high: the loss overflows to NaN."""
# root: loss_divergence

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ("loss_divergence", "nonfinite_loss")
# An explosion ends in NaN: the gradients and activations of the NaN step report it too.
ALLOW = ("exploding_gradient", "nonfinite_gradient", "nonfinite_activation")
ONSET = 0


def squared_error(pred, target):
    return ((pred - target) ** 2).sum() / len(target)  # the division a NaN must not be blamed on


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = linear_targets()
    train, val = split(x * 3, y * 3)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    fit(logdir, model, optimizer, squared_error, minibatches(*train), val, steps=120)
