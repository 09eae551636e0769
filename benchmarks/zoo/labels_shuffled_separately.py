"""Features and labels shuffled with two different permutations: nothing is left to learn."""
# root: loss_plateau

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ("loss_plateau",)
ONSET = 0


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return self.layers(x)


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = blobs(n=1024, seed=21)
    x = x[torch.randperm(len(x))]
    y = y[torch.randperm(len(y))]  # meant to reuse the same permutation
    train, val = split(x, y)
    model = MLP()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val, steps=400)
