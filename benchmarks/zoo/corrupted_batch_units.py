"""One shard of the training data stored its targets in centimetres instead of metres: a one-batch loss spike."""
# root: loss_spike

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

BAD_STEP = 150
EXPECT = ("loss_spike",)
ONSET = BAD_STEP


def with_bad_shard(batches):
    for step, (inputs, targets) in enumerate(batches):
        yield inputs, targets * 100 if step == BAD_STEP else targets


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*linear_targets(seed=22))
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    fit(logdir, model, optimizer, nn.SmoothL1Loss(), with_bad_shard(minibatches(*train)), val)
