"""A hand-written attention with an nn.Softmax module over scores masked with -inf: fully masked rows give NaN."""
# root: nonfinite_activation

import math

import torch
from torch import nn
from torch.nn import functional as F

from tb_lossdiag import DiagWriter

from ._common import sequences

EMPTY_STEP = 40
EXPECT = ("nonfinite_activation", "nonfinite_loss")
ALLOW = ("nonfinite_gradient",)
ONSET = EMPTY_STEP


class AttentionPooling(nn.Module):
    def __init__(self, features=4, width=16):
        super().__init__()
        self.query = nn.Linear(features, width)
        self.key = nn.Linear(features, width)
        self.value = nn.Linear(features, width)
        self.softmax = nn.Softmax(dim=-1)
        self.out = nn.Linear(width, 2)

    def forward(self, x, valid):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(~valid[:, None, :], float("-inf"))
        return self.out((self.softmax(scores) @ v).mean(dim=1))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = sequences(n=32 * 80, seed=36)
    g = torch.Generator().manual_seed(37)
    model = AttentionPooling()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for step in range(80):
        inputs, labels = x[step * 32:(step + 1) * 32], y[step * 32:(step + 1) * 32]
        valid = torch.rand(32, 12, generator=g) > 0.2
        if step == EMPTY_STEP:
            valid[0] = False  # a sequence whose every token was filtered as a stop word
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs, valid), labels)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
