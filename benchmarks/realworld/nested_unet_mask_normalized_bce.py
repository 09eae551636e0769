"""Unet-Segmentation-Pytorch-Nest-of-Unets with the image Normalize applied to masks too: targets in [-1, 1]."""
# source: https://github.com/bigmb/Unet-Segmentation-Pytorch-Nest-of-Unets/issues/18
# root: negative_loss

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import blob_masks

EXPECT = ("negative_loss",)
ALLOW = ("loss_divergence",)  # a loss falling without bound can also read as running away
ONSET = 0
STEPS = 120


def dice_loss(prediction, target):
    """Calculating the dice loss"""
    smooth = 1.0

    i_flat = prediction.view(-1)
    t_flat = target.view(-1)

    intersection = (i_flat * t_flat).sum()

    return 1 - ((2. * intersection + smooth) / (i_flat.sum() + t_flat.sum() + smooth))


def calc_loss(prediction, target, bce_weight=0.5):
    """Calculating the loss and metrics"""
    bce = F.binary_cross_entropy_with_logits(prediction, target)
    prediction = F.sigmoid(prediction)
    dice = dice_loss(prediction, target)

    loss = bce * bce_weight + dice * (1 - bce_weight)

    return loss


class U_Net(nn.Module):
    """The repo's U_Net shrunk to one level."""

    def __init__(self, in_ch=1, out_ch=1):
        super().__init__()
        self.Conv1 = nn.Sequential(nn.Conv2d(in_ch, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.Maxpool1 = nn.MaxPool2d(2)
        self.Conv2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.Up2 = nn.Upsample(scale_factor=2)
        self.Up_conv2 = nn.Sequential(nn.Conv2d(24, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.Conv = nn.Conv2d(8, out_ch, 1)

    def forward(self, x):
        e1 = self.Conv1(x)
        e2 = self.Conv2(self.Maxpool1(e1))
        d2 = self.Up_conv2(torch.cat((e1, self.Up2(e2)), dim=1))
        return self.Conv(d2)


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    images, masks = blob_masks(96, 32, seed=5)
    masks = (masks - 0.5) / 0.5  # the data transform's Normalize(mean=[0.5], std=[0.5]) also ran on the masks
    train_loader = DataLoader(TensorDataset(images, masks), batch_size=4, shuffle=True)
    model_test = U_Net(1, 1)
    opt = torch.optim.Adam(model_test.parameters(), lr=0.001)
    writer = DiagWriter(logdir)
    step = 0
    while step < steps:
        model_test.train()
        for x, y in train_loader:
            opt.zero_grad()
            y_pred = model_test(x)
            lossT = calc_loss(y_pred, y)
            lossT.backward()
            opt.step()
            writer.add_scalar("loss/train", lossT, step)
            step += 1
            if step == steps:
                break
    writer.close()
