"""Text-Classification-Models-Pytorch's Transformer ends in nn.Softmax and trains with nn.NLLLoss."""
# source: https://github.com/AnubhavGupta3377/Text-Classification-Models-Pytorch/issues/9
# root: nll_on_probabilities

import torch
from torch import nn

from tb_lossdiag import DiagWriter

EXPECT = ("nll_on_probabilities", "negative_loss")
ONSET = 0
STEPS = 200


class Config:
    N, h, d_model, d_ff, dropout = 1, 4, 32, 64, 0.1  # the repo's 6 layers of 512 shrunk; the head is the same
    output_size, max_epochs, lr, batch_size, max_sen_len = 4, 1, 0.0003, 64, 30


class Transformer(nn.Module):
    def __init__(self, config, src_vocab):
        super(Transformer, self).__init__()
        self.config = config

        h, N, dropout = self.config.h, self.config.N, self.config.dropout
        d_model, d_ff = self.config.d_model, self.config.d_ff

        # The repo's own Encoder(EncoderLayer(...), N) and Embeddings + PositionalEncoding, as torch modules.
        layer = nn.TransformerEncoderLayer(d_model, h, d_ff, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, N)
        self.src_embed = nn.Embedding(src_vocab, d_model)

        # Fully-Connected Layer
        self.fc = nn.Linear(
            self.config.d_model,
            self.config.output_size
        )

        # Softmax non-linearity
        self.softmax = nn.Softmax(dim=1)  # the repo's nn.Softmax() picks dim=1 for this 2-D output

    def forward(self, x):
        embedded_sents = self.src_embed(x.permute(1, 0))  # shape = (batch_size, sen_len, d_model)
        encoded_sents = self.encoder(embedded_sents)

        # Convert input to (batch_size, d_model) for linear layer
        final_feature_map = encoded_sents[:, -1, :]
        final_out = self.fc(final_feature_map)
        return self.softmax(final_out)

    def add_optimizer(self, optimizer):
        self.optimizer = optimizer

    def add_loss_op(self, loss_op):
        self.loss_op = loss_op

    def run_epoch(self, train_iterator, writer, steps):
        for i, batch in enumerate(train_iterator):
            if i == steps:
                break
            self.optimizer.zero_grad()
            x, label = batch
            y = (label - 1).type(torch.LongTensor)
            y_pred = self.__call__(x)
            loss = self.loss_op(y_pred, y)
            loss.backward()
            writer.add_scalar("loss/train", loss.item(), i)  # the repo appends loss.data.cpu().numpy()
            self.optimizer.step()


def ag_news_batches(vocab, config, seed=0):
    """AG News stand-in: (sen_len, batch) token ids whose class (labels 1..4) sets the word distribution."""
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
    model = Transformer(config, vocab)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    NLLLoss = nn.NLLLoss()
    model.add_optimizer(optimizer)
    model.add_loss_op(NLLLoss)
    writer = DiagWriter(logdir)
    model.run_epoch(ag_news_batches(vocab, config), writer, steps)
    writer.close()
