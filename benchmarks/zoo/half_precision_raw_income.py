"""model.half() to save memory, fed raw incomes in dollars: the first layer overflows float16 (max 65504)."""
# root: unnormalized_input nonfinite_activation

import torch
from torch import nn

from ._common import fit, minibatches, split

EXPECT = ("nonfinite_activation", "nonfinite_loss", "unnormalized_input")
ALLOW = ("nonfinite_gradient",)
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(40)
    income = 20000 + 40000 * torch.rand(512, 4, generator=g)  # four household incomes per row
    spend = income.mean(1, keepdim=True) / 1e4
    train, val = split(income.half(), spend.half())
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 1)).half()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train), val, steps=100)
