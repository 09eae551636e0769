"""An LSTM with 64 hidden units trained long on 48 short sequences: train loss to zero, val loss up."""
# root: overfitting

import torch
from torch import nn

from ._common import fit, minibatches, sequences, split

EXPECT = ("overfitting",)
ONSET = 10  # measured: the validation loss is lowest at its first check (step 9)


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 64, batch_first=True)
        self.fc = nn.Linear(64, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = sequences(n=96, length=8, seed=24)
    flip = torch.rand(len(y), generator=torch.Generator().manual_seed(25)) < 0.25
    y[flip] = 1 - y[flip]  # a quarter of the labels are wrong
    train, val = split(x, y, train_fraction=0.5)
    model = LSTMClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train, batch=16), val, steps=300)
