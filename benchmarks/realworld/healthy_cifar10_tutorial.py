"""Healthy: PyTorch's CIFAR-10 tutorial (SGD lr 0.001, momentum 0.9, batch 4): a slow start, then learning."""
# source: https://github.com/pytorch/tutorials/blob/main/beginner_source/blitz/cifar10_tutorial.py

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import class_images

EXPECT = ()
ONSET = None
STEPS = 1500


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    images, labels = class_images(6000, (3, 32, 32), 10, noise=2.0)  # CIFAR-10 after Normalize((0.5,), (0.5,))
    trainloader = DataLoader(TensorDataset(images / 2, labels), batch_size=4, shuffle=True)
    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    writer = DiagWriter(logdir)
    i = 0
    while i < steps:
        for inputs, labels in trainloader:
            # zero the parameter gradients
            optimizer.zero_grad()

            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            writer.add_scalar("training loss", loss.item(), i)
            i += 1
            if i == steps:
                break
    writer.close()
