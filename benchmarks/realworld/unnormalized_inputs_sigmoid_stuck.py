"""A two-layer sigmoid classifier on raw inputs centred near 92: it sticks at a poor solution."""
# source: https://python.19633.com/es/Python/1002052967.html
# root: unnormalized_input

import torch
import torch.nn as nn

from tb_lossdiag import DiagWriter

EXPECT = ("unnormalized_input",)
ALLOW = ("saturated_activation", "loss_plateau")  # its consequences: saturated sigmoids, a flat loss
ONSET = 0
STEPS = 300


class Model(nn.Module):
    def __init__(self, input_size, H1, output_size):
        super().__init__()
        self.linear = nn.Linear(input_size, H1)
        self.linear2 = nn.Linear(H1, output_size)

    def forward(self, x):
        x = torch.sigmoid(self.linear(x))
        x = torch.sigmoid(self.linear2(x))
        return x


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(2)
    g = torch.Generator().manual_seed(2)
    x_data = 92 + 10 * torch.randn(500, 2, generator=g)  # two raw measurements around 92
    y_data = ((x_data[:, :1] - 92) + (x_data[:, 1:] - 92) > 0).float()
    model = Model(2, 4, 1)
    criterion = nn.BCELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0001)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for i in range(steps):
        y_pred = model(x_data)
        loss = criterion(y_pred, y_data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss", loss.item(), i)
    writer.close()
