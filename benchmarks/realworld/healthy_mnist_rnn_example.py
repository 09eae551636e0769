"""Healthy: pytorch/examples mnist_rnn (an LSTM reading the 28 rows, BatchNorm1d, Adadelta lr 0.1, StepLR 0.7)."""
# source: https://github.com/pytorch/examples/blob/main/mnist_rnn/main.py

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter

from ._common import class_images

EXPECT = ()
ONSET = None
STEPS = 300  # 10 epochs of 30 batches (the example: 14 epochs of 938); the StepLR decay per epoch is kept


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.rnn = nn.LSTM(input_size=28, hidden_size=64, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(64)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, input):
        # Shape of input is (batch_size,1, 28, 28)
        # converting shape of input to (batch_size, 28, 28)
        # as required by RNN when batch_first is set True
        input = input.reshape(-1, 28, 28)
        output, hidden = self.rnn(input)

        # RNN output shape is (seq_len, batch, input_size)
        # Get last output of RNN
        output = output[:, -1, :]
        output = self.batchnorm(output)
        output = self.dropout1(output)
        output = self.fc1(output)
        output = F.relu(output)
        output = self.dropout2(output)
        output = self.fc2(output)
        output = F.log_softmax(output, dim=1)
        return output


def train(model, train_loader, optimizer, writer, step, steps):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        # the example prints loss.item() every 10 batches; the writer gets every batch
        writer.add_scalar("train/loss", loss.item(), step)
        step += 1
        if step == steps:
            break
    return step


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(1)
    # MNIST after Normalize((0.1307,), (0.3081,)): 1920 images in place of 60,000
    images, labels = class_images(1920, (1, 28, 28), 10, noise=2.0)
    train_loader = DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True)
    model = Net()
    optimizer = optim.Adadelta(model.parameters(), lr=0.1)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    writer = DiagWriter(logdir)
    step = 0
    while step < steps:
        step = train(model, train_loader, optimizer, writer, step, steps)
        scheduler.step()
    writer.close()
