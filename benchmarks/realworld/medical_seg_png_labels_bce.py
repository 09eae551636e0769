"""Pytorch-Medical-Segmentation on PNG labels (0/255): BCEWithLogitsLoss goes negative, logged as Training/Loss."""
# source: https://github.com/MontaEllis/Pytorch-Medical-Segmentation/issues/8
# root: negative_loss

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import blob_masks

EXPECT = ("negative_loss",)
ALLOW = ("loss_divergence",)  # a loss falling without bound can also read as running away
ONSET = 0
STEPS = 120


class UNet(nn.Module):
    """The repo's 2-D UNet shrunk to one level."""

    def __init__(self, in_channels=1, out_channels=1, init_features=8):
        super().__init__()
        f = init_features
        self.encoder1 = nn.Sequential(nn.Conv2d(in_channels, f, 3, padding=1), nn.BatchNorm2d(f), nn.ReLU())
        self.pool1 = nn.MaxPool2d(2)
        self.bottleneck = nn.Sequential(nn.Conv2d(f, 2 * f, 3, padding=1), nn.BatchNorm2d(2 * f), nn.ReLU())
        self.upconv1 = nn.ConvTranspose2d(2 * f, f, 2, stride=2)
        self.decoder1 = nn.Sequential(nn.Conv2d(2 * f, f, 3, padding=1), nn.BatchNorm2d(f), nn.ReLU())
        self.conv = nn.Conv2d(f, out_channels, 1)

    def forward(self, x):
        enc1 = self.encoder1(x)
        bottleneck = self.bottleneck(self.pool1(enc1))
        dec1 = self.decoder1(torch.cat((self.upconv1(bottleneck), enc1), dim=1))
        return self.conv(dec1)


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    images, masks = blob_masks(96, 32, seed=3)
    labels = masks * 255  # torchio read the label PNGs as they are: 0 and 255
    train_loader = DataLoader(TensorDataset(images, labels), batch_size=8, shuffle=True)
    model = UNet(in_channels=1, out_channels=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    criterion = nn.BCEWithLogitsLoss()
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    iteration = 0
    while iteration < steps:
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            outputs = model(x)
            loss = criterion(outputs, y)
            loss.backward()
            optimizer.step()
            iteration += 1
            writer.add_scalar('Training/Loss', loss.item(), iteration)
            if iteration == steps:
                break
    writer.close()
