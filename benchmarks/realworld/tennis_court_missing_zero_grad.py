"""TennisCourtDetector's base_trainer.train(): backward and step every iteration, zero_grad never."""
# source: https://github.com/yastrebksv/TennisCourtDetector/issues/7
# root: missing_zero_grad

import torch
import torch.nn as nn
import torch.nn.functional as F
import numpy as np

from tb_lossdiag import DiagWriter

EXPECT = ("missing_zero_grad",)
ALLOW = ("loss_oscillation", "loss_divergence", "exploding_gradient", "loss_spike")  # its usual consequences
ONSET = 1  # the second backward adds onto the first step's gradients
STEPS = 120


class BallTrackerNet(nn.Module):
    """TrackNet's encoder-decoder shrunk to three convolutions; 15 output heatmaps as in the repo."""

    def __init__(self, out_channels=15):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, out_channels, 1)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.conv3(x)


def train(model, train_loader, optimizer, criterion, device, epoch, max_iters=1000, writer=None):
    model.train()
    losses = []
    max_iters = min(max_iters, len(train_loader))

    for iter_id, batch in enumerate(train_loader):
        out = model(batch[0].float().to(device))
        gt_hm_hp = batch[1].float().to(device)
        loss = criterion(F.sigmoid(out), gt_hm_hp)

        loss.backward()
        optimizer.step()
        writer.add_scalar("train/loss", loss.item(), epoch * max_iters + iter_id)
        losses.append(loss.item())
        if iter_id > max_iters:
            break

    return np.mean(losses)


def court_batches(n, g):
    """Frames [2, 3, 36, 64] and 15 Gaussian keypoint heatmaps for them."""
    batches = []
    ys, xs = torch.meshgrid(torch.arange(36.0), torch.arange(64.0), indexing="ij")
    for _ in range(n):
        points = torch.rand(2, 15, 2, generator=g) * torch.tensor([36.0, 64.0])
        heat = torch.exp(-((ys - points[..., 0, None, None]) ** 2 + (xs - points[..., 1, None, None]) ** 2) / 8)
        frame = heat.sum(1, keepdim=True).expand(2, 3, 36, 64) + 0.1 * torch.randn(2, 3, 36, 64, generator=g)
        batches.append((frame, heat))
    return batches


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    train_loader = court_batches(steps // 2, torch.Generator().manual_seed(0))
    model = BallTrackerNet(out_channels=15)
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), weight_decay=0)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for epoch in range(2):
        train(model, train_loader, optimizer, criterion, "cpu", epoch, max_iters=len(train_loader), writer=writer)
    writer.close()
