"""A ReLU RNN over 60-step sequences with recurrent weights scaled up and no gradient clipping: gradients explode."""
# root: exploding_gradient

import torch
from torch import nn

from ._common import fit, minibatches, split

EXPECT = ("exploding_gradient",)
ALLOW = ("loss_divergence", "nonfinite_loss", "nonfinite_gradient", "nonfinite_activation", "loss_spike",
         "loss_oscillation")
ONSET = 0


class SeqRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(2, 32, nonlinearity="relu", batch_first=True)
        nn.init.orthogonal_(self.rnn.weight_hh_l0, gain=2.0)  # "identity-like init helps long memory"
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        states, _ = self.rnn(x)
        return self.out(states[:, -1])


def run(logdir: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(42)
    x = torch.randn(256, 60, 2, generator=g)
    y = x[:, :5, :1].sum(1)  # the answer depends on the first steps: long-range credit assignment
    train, val = split(x, y)
    model = SeqRegressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train), val, steps=80)
