"""A derived feature 1/x (e.g. price per unit) is inf for the one row whose x is 0."""
# root: nonfinite_input

import torch
from torch import nn

from ._common import blobs, fit, minibatches, split

ZERO_ROW, BATCH = 100, 16
EXPECT = ("nonfinite_input", "nonfinite_loss")
ALLOW = ("nonfinite_activation", "nonfinite_gradient")
ONSET = ZERO_ROW // BATCH


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(9, 32)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = blobs()
    units = x[:, 0].abs() + 0.5
    units[ZERO_ROW] = 0.0  # a product sold in zero units
    x = torch.cat([x, (1.0 / units).unsqueeze(1)], dim=1)  # feature engineering without a guard
    train, val = split(x, y)
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train, batch=BATCH, loader=False), val)
