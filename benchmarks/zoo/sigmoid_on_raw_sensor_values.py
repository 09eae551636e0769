"""A sigmoid network fed raw sensor readings (hundreds of units): every sigmoid is pinned at 0 or 1."""
# root: unnormalized_input saturated_activation

import torch
from torch import nn

from ._common import fit, minibatches, split

EXPECT = ("saturated_activation", "unnormalized_input")
ALLOW = ("loss_plateau", "vanishing_gradient")
ONSET = 0


class SensorNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Linear(6, 32)
        self.act1 = nn.Sigmoid()
        self.layer2 = nn.Linear(32, 2)

    def forward(self, x):
        return self.layer2(self.act1(self.layer1(x)))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(48)
    readings = 300 + 100 * torch.randn(512, 6, generator=g)  # kelvin, pascal/100, ...
    faulty = (readings[:, 0] - readings[:, 3] > 0).long()
    train, val = split(readings, faulty)
    model = SensorNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val, steps=150)
