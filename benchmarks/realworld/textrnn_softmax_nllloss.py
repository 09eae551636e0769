"""Text-Classification-Models-Pytorch's TextRNN (bidirectional LSTM) also ends in nn.Softmax and trains with nn.NLLLoss."""
# source: https://github.com/AnubhavGupta3377/Text-Classification-Models-Pytorch/blob/master/Model_TextRNN/model.py (the bug of issue #9, in another of the repo's models)
# root: nll_on_probabilities

import torch
from torch import nn

from tb_lossdiag import DiagWriter

EXPECT = ("nll_on_probabilities", "negative_loss")
ONSET = 0
STEPS = 200


class Config(object):
    embed_size = 300
    hidden_layers = 2
    hidden_size = 32
    bidirectional = True
    output_size = 4
    max_epochs = 10
    lr = 0.25
    batch_size = 64
    max_sen_len = 20  # Sequence length for RNN
    dropout_keep = 0.8


class TextRNN(nn.Module):
    def __init__(self, config, vocab_size, word_embeddings):
        super(TextRNN, self).__init__()
        self.config = config

        # Embedding Layer
        self.embeddings = nn.Embedding(vocab_size, self.config.embed_size)
        self.embeddings.weight = nn.Parameter(word_embeddings, requires_grad=False)

        self.lstm = nn.LSTM(input_size=self.config.embed_size,
                            hidden_size=self.config.hidden_size,
                            num_layers=self.config.hidden_layers,
                            dropout=self.config.dropout_keep,
                            bidirectional=self.config.bidirectional)

        self.dropout = nn.Dropout(self.config.dropout_keep)

        # Fully-Connected Layer
        self.fc = nn.Linear(
            self.config.hidden_size * self.config.hidden_layers * (1 + self.config.bidirectional),
            self.config.output_size
        )

        # Softmax non-linearity
        self.softmax = nn.Softmax(dim=1)  # the repo's nn.Softmax() picks dim=1 for this 2-D output

    def forward(self, x):
        # x.shape = (max_sen_len, batch_size)
        embedded_sent = self.embeddings(x)
        # embedded_sent.shape = (max_sen_len=20, batch_size=64,embed_size=300)

        lstm_out, (h_n, c_n) = self.lstm(embedded_sent)
        final_feature_map = self.dropout(h_n)  # shape=(num_layers * num_directions, 64, hidden_size)

        # Convert input to (64, hidden_size * hidden_layers * num_directions) for linear layer
        final_feature_map = torch.cat([final_feature_map[i, :, :] for i in range(final_feature_map.shape[0])], dim=1)
        final_out = self.fc(final_feature_map)
        return self.softmax(final_out)

    def add_optimizer(self, optimizer):
        self.optimizer = optimizer

    def add_loss_op(self, loss_op):
        self.loss_op = loss_op

    def run_epoch(self, train_iterator, writer, steps):
        losses = []
        for i, batch in enumerate(train_iterator):
            if i == steps:
                break
            self.optimizer.zero_grad()
            x, label = batch
            y = (label - 1).type(torch.LongTensor)
            y_pred = self.__call__(x)
            loss = self.loss_op(y_pred, y)
            loss.backward()
            losses.append(loss.data.cpu().numpy())
            writer.add_scalar("train_loss", losses[-1], i)  # the repo prints the mean of `losses` every 100 iterations
            self.optimizer.step()


def news_batches(vocab, config, seed=0):
    """The dataset's torchtext iterator stand-in: (max_sen_len, batch) token ids, labels 1..4 setting the words."""
    g = torch.Generator().manual_seed(seed)
    while True:
        label = torch.randint(1, config.output_size + 1, (config.batch_size,), generator=g)
        offset = (label - 1) * (vocab // config.output_size)
        words = torch.randint(0, vocab // 2, (config.max_sen_len, config.batch_size), generator=g)
        yield (words + offset) % vocab, label


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    config = Config()
    vocab = 2000
    word_embeddings = torch.randn(vocab, config.embed_size)  # GloVe 840B vectors in the repo
    model = TextRNN(config, vocab, word_embeddings)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    NLLLoss = nn.NLLLoss()
    model.add_optimizer(optimizer)
    model.add_loss_op(NLLLoss)
    writer = DiagWriter(logdir)
    model.run_epoch(news_batches(vocab, config), writer, steps)
    writer.close()
