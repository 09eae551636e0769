"""optimizer.zero_grad() forgotten in a hand-written loop: gradients pile up across steps."""
# root: missing_zero_grad

import torch
from torch import nn

from tb_lossdiag import DiagWriter

from ._common import blobs, split, validate

EXPECT = ("missing_zero_grad",)
ONSET = 1  # the second backward adds onto the first step's gradients


def run(logdir: str) -> None:
    torch.manual_seed(0)
    (x, y), val = split(*blobs(seed=26))
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    criterion = nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for step in range(120):
        i = step % 12 * 32
        loss = criterion(model(x[i:i + 32]), y[i:i + 32])
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
        if step % 10 == 9:
            validate(writer, model, criterion, val, step)
    writer.close()
