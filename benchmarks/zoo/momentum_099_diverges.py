"""momentum=0.99 from a paper, kept with the lr=0.1 tuned for momentum 0.9: the loss climbs steadily."""
# root: loss_divergence

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

EXPECT = ("loss_divergence",)
ALLOW = ("exploding_gradient", "saturated_activation")  # the weights grow until the tanh units saturate
ONSET = 0


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(8, 32)
        self.act = nn.Tanh()
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*linear_targets(seed=19))
    model = Regressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.99)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train), val, steps=200)
