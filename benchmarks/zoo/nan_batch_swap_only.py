"""Only the writer swapped: a NaN row in one batch, the loss tensor logged after optimizer.step()."""
# root: nonfinite_input

import torch
from torch import nn

from tb_lossdiag import DiagWriter

from ._common import blobs, minibatches

BAD_ROW, BATCH = 200, 32
EXPECT = ("nonfinite_input", "nonfinite_loss")
ALLOW = ("nonfinite_gradient",)  # the NaN flows back into every gradient
ONSET = BAD_ROW // BATCH  # batches are taken in order: the NaN row arrives in batch 6


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = blobs()
    x[BAD_ROW, 5] = float("nan")  # a sensor reading that failed to parse
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)  # no watch(): the swap is all the user did
    batches = minibatches(x, y, batch=BATCH, loader=False)
    for step in range(40):
        inputs, targets = next(batches)
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
