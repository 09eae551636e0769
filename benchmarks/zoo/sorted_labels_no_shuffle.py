"""Data sorted by class and a DataLoader with shuffle=False: every batch is one class, the loss swings each epoch."""
# root: loss_oscillation

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import blobs, split, validate

EXPECT = ("loss_oscillation",)
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(n=512, seed=18, spread=1.0))
    order = train[1].argsort()  # the export was grouped by label
    loader = DataLoader(TensorDataset(train[0][order], train[1][order]), batch_size=32, shuffle=False)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    step = 0
    for epoch in range(25):
        for inputs, labels in loader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss/train", loss, step)
            step += 1
        validate(writer, model, criterion, val, step)
    writer.close()
