"""Healthy: pytorch/examples word_language_model as it is today (decoder output through log_softmax into NLLLoss, SGD lr 20, clip 0.25)."""
# source: https://github.com/pytorch/examples/blob/main/word_language_model/model.py

import torch
import torch.nn as nn
import torch.nn.functional as F

from tb_lossdiag import DiagWriter

from ._common import markov_tokens

EXPECT = ()
ONSET = None
STEPS = 120
ntokens, emsize, nhid, bptt, batch_size, lr, clip = 200, 32, 32, 35, 20, 20, 0.25


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super(RNNModel, self).__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.rnn_type, self.nhid, self.nlayers, self.ntoken = rnn_type, nhid, nlayers, ntoken

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(1111)
    train_data = batchify(markov_tokens(30000, ntokens), batch_size)  # wikitext-2 token ids, 200-word vocabulary
    model = RNNModel('LSTM', ntokens, emsize, nhid, 2, 0.2)
    criterion = nn.NLLLoss()
    writer = DiagWriter(logdir)
    step = 0
    while step < steps:
        model.train()
        hidden = model.init_hidden(batch_size)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i)
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            writer.add_scalar("train/loss", loss, step)
            step += 1
            if step == steps:
                break
    writer.close()
