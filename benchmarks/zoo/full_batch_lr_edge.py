"""Full-batch gradient descent with lr=0.3, past the edge of stability: the loss keeps surging and recovering."""
# root: loss_oscillation

import torch
from torch import nn
from torch.nn import functional as F

from tb_lossdiag import DiagWriter

from ._common import linear_targets, split

EXPECT = ("loss_oscillation",)
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    (x, y), (x_val, y_val) = split(*linear_targets(seed=19))
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for epoch in range(300):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)  # the whole dataset fits in one batch
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, epoch)
        if epoch % 10 == 9:
            with torch.no_grad():
                writer.add_scalar("loss/val", F.mse_loss(model(x_val), y_val), epoch)
    writer.close()
