"""optimizer.zero_grad() placed in the epoch loop instead of the batch loop: gradients accumulate within each epoch."""
# root: missing_zero_grad

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import linear_targets, split, validate

EXPECT = ("missing_zero_grad",)
ALLOW = ("loss_divergence", "loss_oscillation")  # 12 batches of stale gradients overshoot
ONSET = 1


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(x)


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*linear_targets(seed=27))
    loader = DataLoader(TensorDataset(*train), batch_size=32, shuffle=True)
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.MSELoss()
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    step = 0
    for epoch in range(20):
        optimizer.zero_grad()
        for inputs, targets in loader:
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss/train", loss, step)
            step += 1
        validate(writer, model, criterion, val, step)
    writer.close()
