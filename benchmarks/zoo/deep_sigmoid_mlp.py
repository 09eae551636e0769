"""A 10-layer MLP with sigmoid activations everywhere (as in old tutorials): the first layers barely get a gradient."""
# root: vanishing_gradient

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ("vanishing_gradient",)
ALLOW = ("loss_plateau",)
ONSET = 0


class DeepSigmoidNet(nn.Module):
    def __init__(self, depth=10, width=32):
        super().__init__()
        blocks = [nn.Linear(8, width), nn.Sigmoid()]
        for _ in range(depth - 1):
            blocks += [nn.Linear(width, width), nn.Sigmoid()]
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Linear(width, 3)

    def forward(self, x):
        return self.classifier(self.features(x))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(seed=43))
    model = DeepSigmoidNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val, steps=200)
