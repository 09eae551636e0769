"""float16 autocast + GradScaler: embeddings L2-normalized by hand include all-zero padding rows (0/0), masked out with torch.where; the loss is finite but every gradient is NaN, so every step is skipped."""
# root: division_by_zero

import torch
from torch import nn

from tb_lossdiag import DiagWriter

from ._common import sequences

EXPECT = ("grad_scale_collapse", "division_by_zero")
ALLOW = ("loss_plateau",)  # no step is ever taken: the loss is flat as well
ONSET = 0


class PooledEncoder(nn.Module):
    """Per-token projection, unit-normalized, mean-pooled over the real (non-padding) tokens."""

    def __init__(self):
        super().__init__()
        self.project = nn.Linear(4, 32, bias=False)
        self.head = nn.Linear(32, 2)

    def forward(self, tokens, mask):
        h = self.project(tokens)
        unit = h / h.pow(2).sum(-1, keepdim=True).sqrt()  # a zero padding row gives 0/0 = NaN
        unit = torch.where(mask[..., None], unit, torch.zeros_like(unit))  # hides it, not its gradient
        return self.head(unit.sum(1) / mask.sum(1, keepdim=True))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = sequences(seed=43)
    lengths = torch.randint(6, 13, (len(x),), generator=torch.Generator().manual_seed(43))
    mask = torch.arange(x.shape[1])[None] < lengths[:, None]
    x = x * mask[..., None]  # padded positions are zeros
    model = PooledEncoder()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu")
    criterion = nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, scaler=scaler)
    for step in range(200):
        batch = slice(step * 32 % 352, step * 32 % 352 + 32)
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            loss = criterion(model(x[batch], mask[batch]), y[batch])
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
