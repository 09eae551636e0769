"""FARM's doc-regression head: squeezed logits [32] against labels [32, 1] in MSELoss broadcast to [32, 32]."""
# source: https://github.com/deepset-ai/FARM/issues/229
# root: target_shape_mismatch

import torch
from torch import nn
from torch.nn import MSELoss

from tb_lossdiag import DiagWriter

EXPECT = ("target_shape_mismatch",)
ALLOW = ("loss_plateau",)  # every prediction is pulled to the batch mean: the loss stalls at the labels' variance
ONSET = 0
STEPS = 200


class FeedForwardBlock(nn.Module):
    """A feed forward neural network of variable depth and width."""

    def __init__(self, layer_dims):
        super(FeedForwardBlock, self).__init__()
        layers = []
        for i in range(len(layer_dims) - 1):
            layers.append(nn.Linear(layer_dims[i], layer_dims[i + 1]))
        self.feed_forward = nn.Sequential(*layers)

    def forward(self, X):
        return self.feed_forward(X)


class RegressionHead(nn.Module):
    def __init__(self, layer_dims=[768, 1], task_name="regression"):
        super(RegressionHead, self).__init__()
        self.layer_dims = layer_dims
        self.feed_forward = FeedForwardBlock(self.layer_dims)
        self.loss_fct = MSELoss(reduction="none")
        self.task_name = task_name

    def forward(self, x):
        logits = self.feed_forward(x).squeeze()  # FARM 0.4.1 squeezed the logits (fixed in deepset-ai/FARM#230)
        return logits

    def logits_to_loss(self, logits, label_ids, **kwargs):
        return self.loss_fct(logits, label_ids.float())


class AdaptiveModel(nn.Module):
    """distilBERT's pooled output stands in as a bag of embeddings; the head and the loss are FARM's."""

    def __init__(self, vocab, dim):
        super().__init__()
        self.language_model = nn.EmbeddingBag(vocab, dim)
        self.prediction_heads = nn.ModuleList([RegressionHead(layer_dims=[dim, 1])])

    def forward(self, input_ids):
        return [head(self.language_model(input_ids)) for head in self.prediction_heads]

    def logits_to_loss(self, logits, label_ids):
        all_losses = [head.logits_to_loss(l, label_ids) for head, l in zip(self.prediction_heads, logits)]
        return sum(all_losses)


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    vocab, dim = 1000, 64
    word_value = torch.rand(vocab, generator=g) * 16  # labels range from 0 to 16, as in the report
    model = AdaptiveModel(vocab, dim)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for step in range(steps):
        input_ids = torch.randint(0, vocab, (32, 24), generator=g)
        label_ids = word_value[input_ids].mean(1, keepdim=True)  # the processor's labels: shape [32, 1]
        logits = model(input_ids)
        per_sample_loss = model.logits_to_loss(logits=logits, label_ids=label_ids)
        loss = per_sample_loss.mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        writer.add_scalar("Train_loss_total", loss, step)
    writer.close()
