"""nn.CrossEntropyLoss on a Sequential that already ends in nn.Softmax: softmax applied twice, learning crawls."""
# root: softmax_before_cross_entropy

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ("softmax_before_cross_entropy",)
ALLOW = ("loss_plateau",)  # the doubled softmax flattens the loss: it may well stall
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(classes=5, seed=13))
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 5), nn.Softmax(dim=-1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val)
