"""The char-RNN name classifier with nn.Softmax instead of LogSoftmax, trained one name at a time with NLLLoss."""
# source: https://github.com/pytorch/pytorch/issues/2623
# root: nll_on_probabilities

import torch
import torch.nn as nn

from tb_lossdiag import DiagWriter

EXPECT = ("nll_on_probabilities", "negative_loss")
# -p[target] of a near-uniform softmax over 18 classes has a tiny gradient: the loss also stays
# within a few % of its first value for hundreds of steps (a true plateau, caused by the same bug)
ALLOW = ("loss_plateau",)
ONSET = 0
STEPS = 600
n_letters, n_hidden, n_categories = 57, 128, 18
learning_rate = 0.005


class RNN(nn.Module):

    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.i2o(combined)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def random_training_example(g):
    """A name of 3-10 letters as one-hot [len, 1, 57]; its category sets which letters it favours."""
    category = torch.randint(0, n_categories, (1,), generator=g)
    length = int(torch.randint(3, 11, (1,), generator=g))
    letters = (category * 3 + torch.randint(0, 8, (length,), generator=g)) % n_letters
    line_tensor = torch.zeros(length, 1, n_letters)
    line_tensor[torch.arange(length), 0, letters] = 1
    return category, line_tensor


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    rnn = RNN(n_letters, n_hidden, n_categories)
    criterion = nn.NLLLoss()
    writer = DiagWriter(logdir)
    writer.watch(rnn)

    def train(category_tensor, line_tensor):
        hidden = rnn.initHidden()
        rnn.zero_grad()
        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)
        loss = criterion(output, category_tensor)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rnn.parameters(), 0.25)
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)
        return output, loss.item()

    for it in range(steps):
        category_tensor, line_tensor = random_training_example(g)
        output, loss = train(category_tensor, line_tensor)
        writer.add_scalar("loss", loss, it)
    writer.close()
