"""Healthy: a one-layer transformer encoder classifying sequences, with Adam and gradient clipping."""

import torch
from torch import nn

from tb_lossdiag import DiagWriter

from ._common import minibatches, sequences, split, validate

EXPECT = ()
ONSET = None


class TinyTransformer(nn.Module):
    def __init__(self, features=4, width=16):
        super().__init__()
        self.embed = nn.Linear(features, width)
        layer = nn.TransformerEncoderLayer(width, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x)).mean(dim=1))


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*sequences(n=512, seed=10))
    model = TinyTransformer()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    criterion = nn.CrossEntropyLoss()
    with DiagWriter(logdir) as writer:
        writer.watch(model, optimizer)
        for step, (inputs, labels) in zip(range(250), minibatches(*train)):
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            writer.add_scalar("loss/train", loss, step)
            if step % 25 == 24:
                validate(writer, model, criterion, val, step)
