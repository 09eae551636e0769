"""Healthy: gradients accumulated on purpose over 4 micro-batches, zero_grad after each optimizer step."""

import torch
from torch import nn

from tb_lossdiag import DiagWriter

from ._common import blobs, minibatches, split, validate

ACCUMULATE = 4
EXPECT = ()
ONSET = None


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(seed=2))
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    batches = minibatches(*train, batch=8)
    optimizer.zero_grad()
    for micro_step in range(400):
        inputs, targets = next(batches)
        loss = criterion(model(inputs), targets)
        (loss / ACCUMULATE).backward()  # an effective batch of 32 that fits in memory
        if micro_step % ACCUMULATE == ACCUMULATE - 1:
            optimizer.step()
            optimizer.zero_grad()
        writer.add_scalar("loss/train", loss, micro_step)
        if micro_step % 20 == 19:
            validate(writer, model, criterion, val, micro_step)
    writer.close()
