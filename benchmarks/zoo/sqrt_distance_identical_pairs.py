"""A hand-written Euclidean distance, sqrt(sum((a - b)**2)), on pairs that include identical ones: NaN gradients."""
# root: nonfinite_gradient

import torch
from torch import nn

from tb_lossdiag import DiagWriter

EXPECT = ("nonfinite_gradient", "nonfinite_loss")
ALLOW = ("nonfinite_activation",)
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(32)
    encoder = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 8))
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-3)
    writer = DiagWriter(logdir)
    writer.watch(encoder, optimizer)
    for step in range(150):
        anchors = torch.randn(32, 10, generator=g)
        positives = anchors + 0.1 * torch.randn(32, 10, generator=g)
        positives[:4] = anchors[:4]  # duplicates in the dataset pair a sample with itself
        optimizer.zero_grad()
        a, p = encoder(anchors), encoder(positives)
        distance = ((a - p) ** 2).sum(dim=1).sqrt()  # sqrt'(0) = inf
        loss = distance.mean()
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
