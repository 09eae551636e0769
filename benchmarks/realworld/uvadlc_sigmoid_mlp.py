"""UvA DL Tutorial 3's BaseNetwork with its own Sigmoid in four hidden layers: it does not learn."""
# source: https://github.com/phlippe/uvadlc_notebooks/issues/119
# root: vanishing_gradient

import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import class_images

EXPECT = ("vanishing_gradient", "loss_plateau")
ALLOW = ("saturated_activation",)
ONSET = 0
STEPS = 200


class ActivationFunction(nn.Module):

    def __init__(self):
        super().__init__()
        self.name = self.__class__.__name__
        self.config = {"name": self.name}


class Sigmoid(ActivationFunction):

    def forward(self, x):
        return 1 / (1 + torch.exp(-x))


class BaseNetwork(nn.Module):

    def __init__(self, act_fn, input_size=784, num_classes=10, hidden_sizes=[512, 256, 256, 128]):
        super().__init__()

        # Create the network based on the specified hidden sizes
        layers = []
        layer_sizes = [input_size] + hidden_sizes
        for layer_index in range(1, len(layer_sizes)):
            layers += [nn.Linear(layer_sizes[layer_index - 1], layer_sizes[layer_index]),
                       act_fn]
        layers += [nn.Linear(layer_sizes[-1], num_classes)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        out = self.layers(x)
        return out


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(42)
    imgs, labels = class_images(8192, (1, 28, 28), 10, noise=1.5)  # FashionMNIST, normalized
    train_loader = DataLoader(TensorDataset(imgs, labels), batch_size=1024, shuffle=True, drop_last=True)
    net = BaseNetwork(act_fn=Sigmoid())
    optimizer = optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)
    loss_module = nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)
    writer.watch(net, optimizer)
    step = 0
    while step < steps:
        net.train()
        for imgs, labels in train_loader:
            optimizer.zero_grad()
            preds = net(imgs)
            loss = loss_module(preds, labels)
            loss.backward()
            optimizer.step()
            writer.add_scalar("train_loss", loss, step)
            step += 1
            if step == steps:
                break
    writer.close()
