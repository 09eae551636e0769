"""A small CNN fed raw 0-255 pixel values: the /255 (or ToTensor) step was forgotten."""
# root: unnormalized_input

import torch
from torch import nn

from ._common import fit, minibatches, split

EXPECT = ("unnormalized_input",)
ALLOW = ("dead_activation", "loss_plateau", "loss_spike")
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(39)
    labels = torch.randint(0, 2, (384,), generator=g)
    images = torch.rand(384, 1, 8, 8, generator=g) * 80
    images[labels == 1, :, 2:6, 2:6] += 150  # class 1: a bright square in the middle
    images = images.round()  # uint8 pixels converted with .float(), not scaled
    train, val = split(images, labels)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 2),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val, steps=200)
