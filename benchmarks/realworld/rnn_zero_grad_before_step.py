"""A char-RNN whose loop calls backward, then optimizer.zero_grad(), then step: no weight ever moves."""
# source: https://github.com/pytorch/pytorch/issues/6126
# root: frozen_parameters

import torch
import torch.nn as nn

from tb_lossdiag import DiagWriter

EXPECT = ("frozen_parameters",)
ALLOW = ("loss_plateau", "nonfinite_loss", "nonfinite_activation", "nonfinite_gradient")  # what the report saw
# The loop also carries `hidden` (a LogSoftmax output) from sequence to sequence, never reset: it
# grows each sequence, so the loss truly runs away (54 to 2e5 in 3 steps, 6e36 by step 30) and
# overflows to NaN while no weight moves.
ALLOW += ("loss_divergence",)
ONSET = 0
STEPS = 60
n_chars = 30


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.h2h = nn.Linear(hidden_size, hidden_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        h = self.softmax(self.h2h(hidden) + self.i2h(input))
        o = self.softmax(self.h2o(h))
        return o, h

    def init_hidden(self):
        return torch.zeros(1, self.hidden_size)


def sequences(n, g):
    """X[i]: 5 one-hot characters [5, n_chars, 1] (iterated as [n_chars, 1] columns); Y[i]: the next one, [1, n_chars]."""
    X, Y = [], []
    for _ in range(n):
        chars = torch.randint(0, n_chars, (6,), generator=g)
        onehot = torch.eye(n_chars)[chars]
        X.append(onehot[:5].unsqueeze(2))
        Y.append(onehot[5:])
    return X, Y


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    X, Y = sequences(steps, torch.Generator().manual_seed(0))
    rnn = RNN(n_chars, 90, n_chars)
    criterion = nn.KLDivLoss(reduction="batchmean")
    learning_rate = 0.05
    optimizer = torch.optim.Adam(rnn.parameters(), lr=learning_rate)
    hidden = rnn.init_hidden()
    writer = DiagWriter(logdir)
    writer.watch(rnn, optimizer)
    for i in range(len(X)):
        for ele in X[i]:
            output, hidden = rnn(ele.t(), hidden)
        loss = criterion(output, Y[i])

        loss.backward(retain_graph=True)
        optimizer.zero_grad()
        optimizer.step()
        writer.add_scalar("loss", loss, i)
    writer.close()
