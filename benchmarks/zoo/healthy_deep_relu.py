"""Healthy: a 4-hidden-layer ReLU MLP with Kaiming init and a StepLR schedule: its ReLUs stay alive."""

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ()
ONSET = None


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = linear_targets(n=640, seed=8)
    train, val = split(x, torch.relu(y) - 0.5 * y.abs())  # a bent target that needs the depth
    layers = []
    for width_in in (8, 64, 64, 64):
        layers += [nn.Linear(width_in, 64), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(64, 1))
    for module in model:
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=100, gamma=0.5)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train), val, scheduler=scheduler)
