"""A masked mean over padded sequences, sum(err * mask) / mask.sum(), meets a batch that is all padding."""
# root: division_by_zero

import torch
from torch import nn

from tb_lossdiag import DiagWriter

EMPTY_STEP = 120
EXPECT = ("division_by_zero", "nonfinite_loss")
ALLOW = ("nonfinite_gradient", "nonfinite_activation")
ONSET = EMPTY_STEP


def masked_mse(pred, target, mask):
    return ((pred - target) ** 2 * mask).sum() / mask.sum()


def run(logdir: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(29)
    model = nn.LSTM(3, 1, batch_first=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for step in range(200):
        x = torch.randn(16, 10, 3, generator=g)
        target = x[:, :, :1].cumsum(1) * 0.1
        lengths = torch.randint(1, 11, (16,), generator=g)
        if step == EMPTY_STEP:
            lengths.zero_()  # a bucket of empty transcripts slipped through the filter
        mask = (torch.arange(10) < lengths[:, None]).float().unsqueeze(-1)
        optimizer.zero_grad()
        pred, _ = model(x)
        loss = masked_mse(pred, target, mask)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
