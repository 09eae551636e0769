"""Plain SGD with lr=0.5 on a regression MLP: the loss climbs instead of falling."""
# root: loss_divergence

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ("loss_divergence", "nonfinite_loss")  # 9.7 -> 8e24 in five steps, then inf
ALLOW = ("nonfinite_gradient", "nonfinite_activation", "exploding_gradient")
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*linear_targets())
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train, loader=False), val)
