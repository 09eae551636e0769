"""The optimizer is created, then the classifier head is replaced: the new head is never updated."""
# root: frozen_parameters

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ("frozen_parameters",)
ALLOW = ("loss_plateau",)
ONSET = 0


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(8, 32), nn.ReLU())
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(self.features(x))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(classes=5, seed=49))
    model = Backbone()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.fc = nn.Linear(32, 5)  # adapt to our 5 classes... after the optimizer took the old parameters
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val)
