"""A teaching notebook's DeepNet: twenty Linear+Sigmoid layers before the output, trained on a binary task: it does not learn."""
# source: https://github.com/juebrauer/code_jb (notebook "The Vanishing Gradients Problem": class DeepNet, depth=20)
# root: vanishing_gradient

import torch
import torch.nn as nn

from tb_lossdiag import DiagWriter

from ._common import generator

EXPECT = ("vanishing_gradient", "loss_plateau")
ALLOW = ("saturated_activation",)
ONSET = 0
STEPS = 200


# Create a deep network with sigmoid activations
class DeepNet(nn.Module):
    def __init__(self, depth=20):
        super().__init__()
        layers = []
        for _ in range(depth):
            layers.append(nn.Linear(100, 100))
            layers.append(nn.Sigmoid())  # <- prone to vanishing gradients
        self.net = nn.Sequential(*layers)
        self.output = nn.Linear(100, 1)

    def forward(self, x):
        return self.output(self.net(x))


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    g = generator(0)
    # The notebook's single random input, made a dataset: 100 features, a label set by a fixed direction.
    direction = torch.randn(100, generator=g)
    x_all = torch.randn(4096, 100, generator=g)
    y_all = (x_all @ direction > 0).float().unsqueeze(1)
    model = DeepNet(depth=20)
    loss_fn = nn.BCEWithLogitsLoss()  # the notebook's MSELoss on one target of 1.0, for 0/1 labels
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for step in range(steps):
        idx = torch.randint(0, len(x_all), (64,), generator=g)
        x, target = x_all[idx], y_all[idx]
        output = model(x)
        loss = loss_fn(output, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss", loss.item(), step)
    writer.close()
