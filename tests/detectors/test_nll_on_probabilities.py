"""nll_on_probabilities: nn.Softmax + F.nll_loss, as in negative-loss-nll.txt."""

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import batches, mlp, only, problems, train


def test_softmax_into_nll_loss_is_caught_at_the_first_step(logdir):
    """The model ends in nn.Softmax and the loss is F.nll_loss: reported at step 0 with the fix."""
    model = mlp(8, 16, 4, last_act=nn.Softmax(dim=1))
    event = only(train(logdir, model, batches(5, (32, 8), classes=4), F.nll_loss), "nll_on_probabilities")
    assert event.step == 0 and event.severity == "error" and event.category == "model"
    assert event.evidence["value"] < 0
    assert "LogSoftmax" in event.hint and "CrossEntropyLoss" in event.hint


def test_works_without_watch(logdir):
    """The writer reads the loss's graph itself: no watch() needed."""
    model = mlp(8, 16, 4, last_act=nn.Softmax(dim=1))
    events = train(logdir, model, batches(3, (32, 8), classes=4), F.nll_loss, watch=False)
    assert only(events, "nll_on_probabilities").step == 0


def test_log_softmax_into_nll_loss_is_healthy(logdir):
    """nn.LogSoftmax + nll_loss is the correct pairing."""
    model = mlp(8, 16, 4, last_act=nn.LogSoftmax(dim=1))
    assert problems(train(logdir, model, batches(12, (32, 8), classes=4), F.nll_loss)) == []


class _Tagger(nn.Module):
    """A sequence tagger [N, T, features] -> per-step class scores, ending in `last`."""

    def __init__(self, last):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.GRU(8, 16, batch_first=True)
        self.out = nn.Linear(16, 4)
        self.last = last

    def forward(self, x):
        return self.last(self.out(self.rnn(x)[0]))


def _tagged(n):
    return [(x, torch.randint(0, 4, (6, 5), generator=torch.Generator().manual_seed(i)))
            for i, (x, _) in enumerate(batches(n, (6, 5, 8)))]


def test_softmax_transposed_into_nll_loss_is_caught(logdir):
    """nn.Softmax(dim=-1), then .transpose(1, 2) to [N, C, T] for nll_loss: reported at step 0."""
    def loss_fn(probs, y):
        return F.nll_loss(probs.transpose(1, 2), y)

    event = only(train(logdir, _Tagger(nn.Softmax(dim=-1)), _tagged(3), loss_fn), "nll_on_probabilities")
    assert event.step == 0 and "TransposeBackward0" in event.message


def test_log_softmax_transposed_into_nll_loss_is_healthy(logdir):
    """nn.LogSoftmax(dim=-1), then the same transpose: no event."""
    def loss_fn(log_probs, y):
        return F.nll_loss(log_probs.transpose(1, 2), y)

    assert problems(train(logdir, _Tagger(nn.LogSoftmax(dim=-1)), _tagged(12), loss_fn)) == []
