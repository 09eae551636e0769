"""hpa-scc's CNN flattens with x.view(-1, 8*16*1*30*30): a batch of 8 becomes one row, MSELoss broadcasts [1, 18] to [8, 18]."""
# source: https://github.com/weka511/hpa-scc/issues/38
# root: target_shape_mismatch

import torch
import torch.nn as nn
import torch.nn.functional as F

from tb_lossdiag import DiagWriter

EXPECT = ("target_shape_mismatch",)
ALLOW = ("loss_plateau",)  # one prediction for all eight images: the loss stalls at the labels' spread
ONSET = 0
STEPS = 80


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(4, 16, (1, 5, 5))  # 4 stains, one slice, 64x64 crops
        self.pool = nn.MaxPool3d((1, 2, 2))
        self.fc1 = nn.Linear(8 * 16 * 1 * 30 * 30, 18)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = x.view(-1, 8 * 16 * 1 * 30 * 30)
        x = torch.sigmoid(self.fc1(x))
        return x


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(42)
    g = torch.Generator().manual_seed(42)
    model = Net()
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    writer = DiagWriter(logdir)
    for step in range(steps):
        labels = (torch.rand(8, 18, generator=g) < 0.2).float()  # 18 protein-location classes, multi-label
        inputs = torch.randn(8, 4, 1, 64, 64, generator=g) + labels[:, :4, None, None, None]
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss", loss, step)
    writer.close()
