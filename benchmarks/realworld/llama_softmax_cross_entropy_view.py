"""llama-from-scratch's first model: F.softmax, then .view(-1, vocab) into F.cross_entropy."""
# source: https://github.com/bkitano/llama-from-scratch/issues/5
# root: softmax_before_cross_entropy

import torch
import torch.nn.functional as F
from torch import nn

from tb_lossdiag import DiagWriter

from ._common import markov_tokens

EXPECT = ("softmax_before_cross_entropy",)
ALLOW = ("loss_plateau",)  # a double softmax flattens the gradients: a slow curve is its consequence
ONSET = 0
STEPS = 300

MASTER_CONFIG = {"vocab_size": 65, "batch_size": 32, "context_window": 16, "d_model": 128, "epochs": STEPS}


class SimpleBrokenModel(nn.Module):
    def __init__(self, config=MASTER_CONFIG):
        super().__init__()
        self.config = config

        self.embedding = nn.Embedding(config['vocab_size'], config['d_model'])
        self.linear = nn.Sequential(
            nn.Linear(config['d_model'], config['d_model']),
            nn.ReLU(),
            nn.Linear(config['d_model'], config['vocab_size']),
        )

    def forward(self, idx, targets=None):
        x = self.embedding(idx)
        a = self.linear(x)
        logits = F.softmax(a, dim=-1)

        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, self.config['vocab_size']), targets.view(-1))
            return logits, loss

        else:
            return logits


def get_batches(data, batch_size, context_window, g):
    """The notebook's get_batches on the character stream: random windows and their next characters."""
    ix = torch.randint(0, data.size(0) - context_window - 1, (batch_size,), generator=g)
    x = torch.stack([data[i:i + context_window] for i in ix]).long()
    y = torch.stack([data[i + 1:i + context_window + 1] for i in ix]).long()
    return x, y


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    dataset = markov_tokens(20000, MASTER_CONFIG['vocab_size'])  # tiny-shakespeare's 65 characters
    g = torch.Generator().manual_seed(1)
    model = SimpleBrokenModel(MASTER_CONFIG)
    optimizer = torch.optim.Adam(model.parameters())
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for epoch in range(steps):
        optimizer.zero_grad()
        xs, ys = get_batches(dataset, MASTER_CONFIG['batch_size'], MASTER_CONFIG['context_window'], g)
        logits, loss = model(xs, targets=ys)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, epoch)
    writer.close()
