"""An encoder-decoder whose optimizer only got model.encoder.parameters(): the decoder stays at its init."""
# root: frozen_parameters

import torch
from torch import nn

from ._common import fit, minibatches, sequences, split

EXPECT = ("frozen_parameters",)
ALLOW = ("loss_plateau",)
ONSET = 0


class EncoderDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.GRU(4, 16, batch_first=True)
        self.decoder = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, x):
        _, h = self.encoder(x)
        return self.decoder(h[-1])


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*sequences(seed=50))
    model = EncoderDecoder()
    optimizer = torch.optim.Adam(model.encoder.parameters(), lr=3e-3)  # copied from the pretraining script
    fit(logdir, model, optimizer, nn.CrossEntropyLoss(), minibatches(*train), val, steps=200)
