"""nll_on_probabilities: nn.Softmax + F.nll_loss, as in negative-loss-nll.txt."""

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
