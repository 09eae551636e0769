"""Healthy: fine-tuning only a new head on a frozen backbone (requires_grad=False, head-only optimizer)."""

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ()
ONSET = None


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(classes=4, seed=11))
    backbone = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())  # "pretrained"
    for param in backbone.parameters():
        param.requires_grad = False
    head = nn.Linear(64, 4)
    model = nn.Sequential(backbone, head)
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val)
