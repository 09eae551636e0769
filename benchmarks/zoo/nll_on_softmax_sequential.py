"""nn.Softmax as the last layer of a Sequential, trained with nn.NLLLoss: the loss goes negative."""
# root: nll_on_probabilities

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ("nll_on_probabilities", "negative_loss")
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs())
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3), nn.Softmax(dim=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(logdir, model, optimizer, nn.NLLLoss(), minibatches(*train), val)
