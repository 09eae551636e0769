"""One batch comes from a shard whose class ids were shifted by one (a re-indexed label file): a loss spike."""
# root: loss_spike

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

BAD_STEP = 200
EXPECT = ("loss_spike",)
ONSET = BAD_STEP


def shifted_labels_once(batches, classes=3):
    for step, (inputs, labels) in enumerate(batches):
        yield inputs, (labels + 1) % classes if step == BAD_STEP else labels


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(seed=23))
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), shifted_labels_once(minibatches(*train)), val)
