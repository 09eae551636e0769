"""Healthy: PyTorch's LSTM part-of-speech tagger tutorial, one unbatched sentence per step, SGD lr 0.1."""
# source: https://github.com/pytorch/tutorials/blob/main/beginner_source/nlp/sequence_models_tutorial.py

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

from tb_lossdiag import DiagWriter

EXPECT = ()
ONSET = None
STEPS = 600
EMBEDDING_DIM, HIDDEN_DIM, VOCAB, TAGS = 6, 6, 40, 3


class LSTMTagger(nn.Module):

    def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
        super(LSTMTagger, self).__init__()
        self.hidden_dim = hidden_dim

        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)

        # The LSTM takes word embeddings as inputs, and outputs hidden states
        # with dimensionality hidden_dim.
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)

        # The linear layer that maps from hidden state space to tag space
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        tag_scores = F.log_softmax(tag_space, dim=1)
        return tag_scores


def training_data(n, g):
    """Sentences of 4-9 words; a word's tag (DET, NN, V) is fixed by the word."""
    word_tag = torch.randint(0, TAGS, (VOCAB,), generator=g)
    data = []
    for _ in range(n):
        sentence = torch.randint(0, VOCAB, (int(torch.randint(4, 10, (1,), generator=g)),), generator=g)
        data.append((sentence, word_tag[sentence]))
    return data


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(1)
    data = training_data(60, torch.Generator().manual_seed(1))
    model = LSTMTagger(EMBEDDING_DIM, HIDDEN_DIM, VOCAB, TAGS)
    loss_function = nn.NLLLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    step = 0
    while step < steps:
        for sentence, tags in data:
            # Step 1. Remember that Pytorch accumulates gradients.
            # We need to clear them out before each instance
            model.zero_grad()

            # Step 3. Run our forward pass.
            tag_scores = model(sentence)

            # Step 4. Compute the loss, gradients, and update the parameters by
            #  calling optimizer.step()
            loss = loss_function(tag_scores, tags)
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss", loss.item(), step)
            step += 1
            if step == steps:
                break
    writer.close()
