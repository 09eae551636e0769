"""Healthy: AdamW with a linear warmup into a cosine decay, stepped every batch."""

import math

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

EXPECT = ()
ONSET = None
STEPS, WARMUP = 300, 30


def warmup_cosine(step):
    if step < WARMUP:
        return (step + 1) / WARMUP
    return 0.5 * (1 + math.cos(math.pi * (step - WARMUP) / (STEPS - WARMUP)))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(classes=4, seed=1))
    model = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val, STEPS, scheduler)
