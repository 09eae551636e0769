"""log_of_nonpositive: a hand-written cross-entropy taking log of probabilities that reach 0."""

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import batches, mlp, only, train


def _manual_ce(probs, y):
    return F.nll_loss(torch.log(probs), y)


def test_log_of_zero_probability_is_caught_while_the_loss_is_finite(logdir):
    """A class whose softmax probability underflows to 0: log(0) never picked by nll_loss, so the
    loss stays finite, but the log is named at step 0 (its backward makes NaN gradients)."""
    model = mlp(8, 16, 4, last_act=nn.Softmax(dim=1))
    with torch.no_grad():
        model[2].bias[3] = -1000.0
    data = batches(3, (32, 8), classes=3)  # class 3 never occurs
    events = train(logdir, model, data, _manual_ce, log_before_backward=True)
    event = only(events, "log_of_nonpositive")
    assert event.step == 0 and event.evidence["bad_values"] == 32 and event.evidence["minimum"] == 0
    assert "nonfinite_loss" not in {e.kind for e in events if e.step == 0}
    assert "clamp_min" in event.hint


def test_log_of_nonpositive_seen_from_the_graph_after_backward(logdir):
    """Logged after backward (operands freed): a NaN loss whose graph takes a log names the log."""
    def loss_fn(out, y):
        return F.nll_loss(torch.log(out), y)  # raw logits: log of negatives

    event = only(train(logdir, mlp(8, 16, 4), batches(3, (32, 8), classes=4), loss_fn), "log_of_nonpositive")
    assert event.step == 0 and event.tag == "loss/train"
