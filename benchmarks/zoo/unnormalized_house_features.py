"""House prices from raw features (square feet, year built, lot size): never standardized."""
# root: unnormalized_input

import torch
from torch import nn

from ._common import fit, minibatches, split

EXPECT = ("unnormalized_input",)
ALLOW = ("loss_plateau", "dead_activation")  # big raw inputs push ReLUs around and stall learning
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(38)
    sqft = 800 + 2500 * torch.rand(512, 1, generator=g)
    year = 1950 + 70 * torch.rand(512, 1, generator=g)
    lot = 2000 + 8000 * torch.rand(512, 1, generator=g)
    x = torch.cat([sqft, year, lot], dim=1)
    price = (0.15 * sqft + 0.02 * (year - 1950) + 0.005 * lot) / 100  # in $100k
    train, val = split(x, price)
    model = nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train), val)
