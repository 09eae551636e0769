"""A GRU forecaster returns [N] (squeezed) while targets stay [N, 1]: F.l1_loss broadcasts to [N, N]."""
# root: target_shape_mismatch

import torch
from torch import nn
from torch.nn import functional as F

from ._common import fit, minibatches, split

EXPECT = ("target_shape_mismatch",)
ALLOW = ("loss_plateau",)
ONSET = 0


class Forecaster(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, series):
        states, _ = self.gru(series)
        return self.out(states[:, -1]).squeeze(-1)


def run(logdir: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(16)
    t = torch.arange(13.0)
    phase = torch.rand(384, 1, generator=g) * 6.28
    wave = torch.sin(0.5 * t + phase) + 0.05 * torch.randn(384, 13, generator=g)
    train, val = split(wave[:, :12].unsqueeze(-1), wave[:, 12:])  # next value, kept as [N, 1]
    model = Forecaster()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    fit(logdir, model, optimizer, F.l1_loss, minibatches(*train), val, steps=200)
