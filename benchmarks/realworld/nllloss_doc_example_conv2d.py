"""NLLLoss's 2-D documentation example, missing its LogSoftmax, trained: the conv's raw output goes to nll_loss."""
# source: https://github.com/pytorch/pytorch/pull/12703
# root: negative_loss

import torch
import torch.nn as nn

from tb_lossdiag import DiagWriter

EXPECT = ("negative_loss",)
ALLOW = ("loss_divergence",)  # a loss falling without bound can also read as running away
ONSET = 0
STEPS = 100


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    # 2D loss example (used, for example, with image inputs)
    N, C = 5, 4
    loss = nn.NLLLoss()
    # input is of size N x C x height x width
    data = torch.randn(N, 16, 10, 10)
    conv = nn.Conv2d(16, C, (3, 3))
    # each element in target has to have 0 <= value < C
    target = torch.empty(N, 8, 8, dtype=torch.long).random_(0, C)
    optimizer = torch.optim.SGD(conv.parameters(), lr=0.01)
    writer = DiagWriter(logdir)
    for step in range(steps):
        output = loss(conv(data), target)
        optimizer.zero_grad()
        output.backward()
        optimizer.step()
        writer.add_scalar("loss", output.item(), step)
    writer.close()
