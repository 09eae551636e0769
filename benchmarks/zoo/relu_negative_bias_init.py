"""Hidden biases initialized to -3 ("sparse activations"): almost every ReLU is off for every input."""
# root: dead_activation

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ("dead_activation",)
ALLOW = ("loss_plateau", "vanishing_gradient")
ONSET = 0


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(8, 64)
        self.relu = nn.ReLU()
        self.out = nn.Linear(64, 3)
        nn.init.constant_(self.hidden.bias, -3.0)

    def forward(self, x):
        return self.out(self.relu(self.hidden(x)))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(seed=45, spread=0.5))
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val, steps=200)
