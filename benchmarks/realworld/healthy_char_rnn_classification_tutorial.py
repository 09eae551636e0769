"""Healthy: PyTorch's char-RNN name classification tutorial (one name at a time, SGD lr 0.005): a slow start, then learning."""
# source: https://github.com/pytorch/tutorials/blob/v1.13.0/intermediate_source/char_rnn_classification_tutorial.py

import string

import torch
import torch.nn as nn

from tb_lossdiag import DiagWriter

EXPECT = ()
ONSET = None
STEPS = 1500

all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)
n_hidden = 128
learning_rate = 0.005  # If you set this too high, it might explode. If too low, it might not learn


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()

        self.hidden_size = hidden_size

        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.i2o(combined)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


# Find letter index from all_letters, e.g. "a" = 0
def letterToIndex(letter):
    return all_letters.find(letter)


# Turn a line into a <line_length x 1 x n_letters>,
# or an array of one-hot letter vectors
def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


def names(g, n_categories=18, per_category=60):
    """data/names/*.txt: 18 languages, each with its own letters and endings (a stand-in with that structure)."""
    lines = {}
    for c in range(n_categories):
        letters = torch.randperm(26, generator=g)[:6]
        lines[c] = ["".join(all_letters[26 + letters[0]] if i == 0 else all_letters[letters[torch.randint(0, 6, (1,),
                    generator=g)]] for i in range(int(torch.randint(3, 9, (1,), generator=g)))) for _ in range(per_category)]
    return lines


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    category_lines = names(g)
    all_categories = list(category_lines)
    n_categories = len(all_categories)
    rnn = RNN(n_letters, n_hidden, n_categories)
    criterion = nn.NLLLoss()
    writer = DiagWriter(logdir)

    def randomTrainingExample():
        category = all_categories[int(torch.randint(0, n_categories, (1,), generator=g))]
        line = category_lines[category][int(torch.randint(0, len(category_lines[category]), (1,), generator=g))]
        category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
        line_tensor = lineToTensor(line)
        return category, line, category_tensor, line_tensor

    def train(category_tensor, line_tensor):
        hidden = rnn.initHidden()

        rnn.zero_grad()

        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)

        loss = criterion(output, category_tensor)
        loss.backward()

        # Add parameters' gradients to their values, multiplied by learning rate
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)

        return output, loss.item()

    for iter in range(steps):
        category, line, category_tensor, line_tensor = randomTrainingExample()
        output, loss = train(category_tensor, line_tensor)
        writer.add_scalar("loss", loss, iter)
    writer.close()
