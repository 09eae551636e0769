"""A custom model returning self.softmax(x) (nn.Softmax), with F.nll_loss(output, target.squeeze())."""
# root: nll_on_probabilities

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import blobs, split, validate

EXPECT = ("nll_on_probabilities", "negative_loss")
ONSET = 0


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 64)
        self.fc2 = nn.Linear(64, 4)
        self.softmax = nn.Softmax(dim=1)  # should have been nn.LogSoftmax(dim=1)

    def forward(self, x):
        return self.softmax(self.fc2(F.relu(self.fc1(x))))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = blobs(classes=4, seed=12)
    (x_train, y_train), val = split(x, y.unsqueeze(1))
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True)
    model = Model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    step = 0
    for epoch in range(25):
        for batch_idx, (data, target) in enumerate(train_loader):
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target.squeeze())
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss/train", loss, step)
            step += 1
        validate(writer, model, lambda out, t: F.nll_loss(out, t.squeeze()), val, step)
    writer.close()
