"""A course's copy of pytorch/examples word_language_model run with --model RNN_RELU: the loss explodes, then NaN."""
# source: https://github.com/chenxie95/deeplearning_course_sjtu/issues/31
# root: exploding_gradient

import torch
import torch.nn as nn
import torch.nn.functional as F

from tb_lossdiag import DiagWriter

from ._common import markov_tokens

EXPECT = ("exploding_gradient", "nonfinite_loss")
# what a ReLU RNN blowing up brings along: the spikes before it, the inf in its output, the NaN flowing back
ALLOW = ("loss_spike", "loss_divergence", "nonfinite_activation", "nonfinite_gradient")
ONSET = 0
STEPS = 50  # the loss spikes at 30 and 33, reaches 9378 at 37, 1e25 at 38 and is NaN from 39
# languagemodel/main.py's defaults (lr 20, clip 0.25, bptt 35, batch 20, 2 layers, dropout 0.2); emsize and nhid
# shrunk from 200 to 100 and a 500-word vocabulary in place of gigaspeech's, to keep the run short on a CPU
ntokens, emsize, nhid, nlayers, bptt, batch_size, lr, clip = 500, 100, 100, 2, 35, 20, 20, 0.25


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ['LSTM', 'GRU']:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            try:
                nonlinearity = {'RNN_TANH': 'tanh', 'RNN_RELU': 'relu'}[rnn_type]
            except KeyError as e:
                raise ValueError("""An invalid option for `--model` was supplied,
                                 options are ['LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU']""") from e
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

        self.init_weights()

        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == 'LSTM':
            return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                    weight.new_zeros(self.nlayers, bsz, self.nhid))
        else:
            return weight.new_zeros(self.nlayers, bsz, self.nhid)


def batchify(data, bsz):
    # Work out how cleanly we can divide the dataset into bsz parts.
    nbatch = data.size(0) // bsz
    # Trim off any extra elements that wouldn't cleanly fit (remainders).
    data = data.narrow(0, 0, nbatch * bsz)
    # Evenly divide the data across the bsz batches.
    data = data.view(bsz, -1).t().contiguous()
    return data


def get_batch(source, i):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i+seq_len]
    target = source[i+1:i+1+seq_len].view(-1)
    return data, target


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""

    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(1111)
    corpus_train = markov_tokens(30000, ntokens)  # gigaspeech's train.txt as token ids
    train_data = batchify(corpus_train, batch_size)
    model = RNNModel('RNN_RELU', ntokens, emsize, nhid, nlayers, 0.2, False)
    criterion = nn.NLLLoss()
    writer = DiagWriter(logdir)
    writer.watch(model)
    step = 0
    while step < steps:
        # Turn on training mode which enables dropout.
        model.train()
        hidden = model.init_hidden(batch_size)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i)
            # Starting each batch, we detach the hidden state from how it was previously produced.
            # If we didn't, the model would try backpropagating all the way to start of the dataset.
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()

            # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)

            writer.add_scalar("train/loss", loss.item(), step)
            step += 1
            if step == steps:
                break
    writer.close()
