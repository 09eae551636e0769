"""Pytorch-UNet on masks read as 0/255 PNGs: BCEWithLogitsLoss runs to -1e7, logged as loss.item()."""
# source: https://github.com/milesial/Pytorch-UNet/issues/84
# root: negative_loss

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import blob_masks

EXPECT = ("negative_loss",)
ALLOW = ("loss_divergence",)  # a loss falling without bound can also read as running away
ONSET = 0
STEPS = 120


class DoubleConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True)
        )

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        diffY = x2.size()[2] - x1.size()[2]
        diffX = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2])
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class UNet(nn.Module):
    def __init__(self, n_channels, n_classes):
        super(UNet, self).__init__()
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.inc = DoubleConv(n_channels, 8)  # 64 channels in the repo, 8 here
        self.down1 = Down(8, 16)
        self.up1 = Up(24, 8)
        self.outc = nn.Conv2d(8, n_classes, kernel_size=1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x = self.up1(x2, x1)
        return self.outc(x)


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    imgs, masks = blob_masks(128, 32)
    true_masks_png = masks * 255  # the masks, read from PNG, were never divided by 255
    # `python train.py` as the issue's author ran it: get_args' defaults, batch size 1 and lr 0.1
    batch_size, lr = 1, 0.1
    train_loader = DataLoader(TensorDataset(imgs, true_masks_png), batch_size=batch_size, shuffle=True)
    net = UNet(n_channels=1, n_classes=1)
    optimizer = optim.RMSprop(net.parameters(), lr=lr, weight_decay=1e-8)
    if net.n_classes > 1:
        criterion = nn.CrossEntropyLoss()
    else:
        criterion = nn.BCEWithLogitsLoss()
    writer = DiagWriter(comment=f'LR_{lr}_BS_{batch_size}', log_dir=logdir)
    global_step = 0
    while global_step < steps:
        net.train()
        for imgs, true_masks in train_loader:
            masks_pred = net(imgs)
            loss = criterion(masks_pred, true_masks)
            writer.add_scalar('Loss/train', loss.item(), global_step)

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            global_step += 1
            if global_step == steps:
                break
    writer.close()
