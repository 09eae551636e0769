"""Udacity intro-to-pytorch Part 8 (Transfer Learning): the CPU/GPU timing loop steps Adam without optimizer.zero_grad()."""
# source: https://github.com/udacity/deep-learning-v2-pytorch/pull/160
# root: missing_zero_grad
# (the loop: intro-to-pytorch/Part 8 - Transfer Learning (Solution).ipynb, the cell after `import time`)

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import class_images

EXPECT = ("missing_zero_grad",)
ALLOW = ("loss_oscillation", "loss_divergence", "exploding_gradient", "loss_spike")  # its usual consequences
ONSET = 1  # the second backward adds onto the gradients the first step used
STEPS = 4  # the cell's loop breaks at ii==3


class DenseNet(nn.Module):
    """models.densenet121(pretrained=True)'s forward, with a small frozen conv in place of its 1024-channel features."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 1024, 8, stride=8), nn.BatchNorm2d(1024))
        self.classifier = nn.Linear(1024, 1000)

    def forward(self, x):
        features = self.features(x)
        out = F.relu(features, inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        out = torch.flatten(out, 1)
        out = self.classifier(out)
        return out


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    # Cat_Dog_data after Resize/CenterCrop and ImageNet Normalize: 64x64 in place of 224x224, batch 64 as in the notebook
    images, labels = class_images(64 * steps, (3, 64, 64), 2)
    trainloader = DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True)
    model = DenseNet()
    # Freeze parameters so we don't backprop through them
    for param in model.parameters():
        param.requires_grad = False

    classifier = nn.Sequential(OrderedDict([
                              ('fc1', nn.Linear(1024, 500)),
                              ('relu', nn.ReLU()),
                              ('fc2', nn.Linear(500, 2)),
                              ('output', nn.LogSoftmax(dim=1))
                              ]))

    model.classifier = classifier
    writer = DiagWriter(logdir)

    for device in ['cpu']:  # the notebook also times 'cuda'

        criterion = nn.NLLLoss()
        # Only train the classifier parameters, feature parameters are frozen
        optimizer = optim.Adam(model.classifier.parameters(), lr=0.001)

        model.to(device)

        for ii, (inputs, labels) in enumerate(trainloader):

            # Move input and label tensors to the GPU
            inputs, labels = inputs.to(device), labels.to(device)

            outputs = model.forward(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss", loss, ii)  # the cell prints only the time per batch

            if ii==3:
                break
    writer.close()
