"""NLP in Action 2nd ed. (nlpia2) ch08 word RNN run as RNN_RELU at lr 20: the loss is NaN, the ReLU state carried between batches."""
# source: https://pypi.org/project/nlpia2/0.2.0/ (nlpia2/ch08/rnn_word/main.py, model.py and
#   checkpoint_notes/model_RNN_RELU_nlayers_1_epochs_6_nhid_200_batch_size_20_bptt_35_nlayers.md: loss nan from batch 200)
# root: exploding_gradient, loss_divergence

import torch
import torch.nn as nn
import torch.nn.functional as F

from tb_lossdiag import DiagWriter

from ._common import markov_tokens

EXPECT = ("nonfinite_loss", "exploding_gradient")
# what a ReLU RNN blowing up brings along: the run-up before the NaN, the inf in its output, the NaN flowing back
ALLOW = ("loss_spike", "loss_divergence", "nonfinite_activation", "nonfinite_gradient")
ONSET = 0
# the whole epoch the corpus holds (80 batches; the book: nan by batch 200). The blow-up is chaotic and its
# float rounding differs by CPU: spikes from step 3 (3717) on both machines tried, then NaN from step 34 on one
# (AVX-512) and from step 61 on another (AVX2, 2.6e7 at 17): a run cut at 50 steps missed the NaN there
STEPS = 80
# the recorded run: `--model RNN_RELU --nhid 200 --batch_size 20 --bptt 35 --nlayers 1`, lr 20, clip 0.25;
# hidden_size/input_size shrunk from 200 to 100 and a 500-word vocabulary in place of wikitext-2's 33,278
HYPERPARAMS = dict(rnn_type='RNN_RELU', input_size=100, hidden_size=100, num_layers=1, batch_size=20, seqlen=35,
                   lr=20, clip=0.25, log_interval=200, dry_run=False)


class Vocab:
    """preprocessing.Vocab's part the model reads: len(vocab) words."""

    def __init__(self, n):
        self.idx2word = [str(i) for i in range(n)]

    def __len__(self):
        return len(self.idx2word)


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder.

    TODO: Create RNNBaseModel parent and child RNNModel, GRUModel, LSTMModel classes
    """

    def __init__(self, rnn_type, vocab, nonlinearity='RELU', input_size=200,
                 hidden_size=200, batch_size=20, num_layers=2,
                 embedding_dropout=0, rnn_dropout=0.2,
                 bidirectional=False,
                 tie_weights=False, **kwargs):
        super().__init__()
        self.rnn_type = rnn_type.split('_')[0].upper()
        self.nonlinearity = str.lower(nonlinearity or rnn_type.split('_')[-1])
        self.vocab = vocab
        self.input_size = input_size
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.rnn_dropout = embedding_dropout
        self.encoder = nn.Embedding(len(self.vocab), self.input_size)
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.batch_size = batch_size

        rnn_kwargs = dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            dropout=self.rnn_dropout,
        )
        if self.rnn_type == 'RNN':
            rnn_kwargs['nonlinearity'] = self.nonlinearity or 'relu'
        self.rnn = getattr(nn, self.rnn_type)(**rnn_kwargs)
        self.decoder = nn.Linear(hidden_size, len(self.vocab))

        if tie_weights:
            if hidden_size != input_size:
                raise ValueError('When using the tied flag, hidden_size must be equal to emsize')
            self.decoder.weight = self.encoder.weight

        self.init_weights()

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.encoder(input)
        emb = self.embedding_dropout(emb)
        output, hidden = self.rnn(emb, hidden)
        # output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, len(self.vocab))
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, batch_size=None):
        if batch_size is not None:
            self.batch_size = batch_size
        weight = next(self.parameters())
        if self.rnn_type == 'LSTM':
            return (
                weight.new_zeros(
                    self.num_layers, self.batch_size, self.hidden_size),
                weight.new_zeros(
                    self.num_layers, self.batch_size, self.hidden_size)
            )
        else:
            return weight.new_zeros(
                self.num_layers, self.batch_size, self.hidden_size)


def batchify(dataset, batch_size):
    """preprocessing.batchify: the token stream cut into batch_size columns."""
    nbatch = dataset.size(0) // batch_size
    return dataset.narrow(0, 0, nbatch * batch_size).view(batch_size, -1).t().contiguous()


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""

    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i, **kwargs):
    seq_len = min(kwargs['seqlen'], len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def train_epoch(model, train_data, ntokens, criterion=nn.NLLLoss(), lr=2.0, writer=None, steps=None, **kwargs):
    # Training mode enables dropout layers
    model.train()
    total_loss = 0.

    if kwargs['rnn_type'] != 'Transformer':
        hidden = model.init_hidden(kwargs['batch_size'])
    # the book wraps this in tqdm(...), a progress bar
    for batch, i in enumerate(range(0, train_data.size(0) - 1, kwargs['seqlen'])):
        data, targets = get_batch(train_data, i, **kwargs)
        # Starting each batch, we detach the hidden state from how it was previously produced.
        # If we didn't, the model would try backpropagating all the way to start of the dataset.
        model.zero_grad()
        if kwargs['rnn_type'] == 'Transformer':
            output = model(data)
            output = output.view(-1, ntokens)
        else:
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()

        # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
        torch.nn.utils.clip_grad_norm_(model.parameters(), kwargs['clip'])
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)

        total_loss += loss.item()
        writer.add_scalar("train/loss", loss.item(), batch)  # the book prints the mean every log_interval batches

        if batch and batch % kwargs['log_interval'] == 0:
            total_loss = 0
        if kwargs['dry_run'] or batch + 1 == steps:
            break


def run(logdir: str, steps: int = STEPS) -> None:
    kwargs = dict(HYPERPARAMS)
    torch.manual_seed(1111)
    vocab = Vocab(500)
    train_data = batchify(markov_tokens(56001, len(vocab)), kwargs['batch_size'])  # corpus.train as 80 batches of ids
    model = RNNModel(vocab=vocab, **kwargs)
    writer = DiagWriter(logdir)
    writer.watch(model)
    lr = kwargs.pop('lr')
    train_epoch(model=model, criterion=nn.NLLLoss(), ntokens=len(vocab), train_data=train_data, lr=lr,
                writer=writer, steps=steps, **kwargs)
    writer.close()
