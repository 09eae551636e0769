"""negative_loss: a loss that cannot be negative (NLL, CE, MSE...) went below zero."""

import torch
import torch.nn.functional as F

from curve_helpers import classification, feed, fit, kinds, mlp, regression
from tb_lossdiag.detectors.negative_loss import NegativeLoss


def test_scripted_negative_nll_is_one_error_at_its_onset():
    """An NLL curve that crosses below zero is reported once, at the first negative step."""
    events = feed(NegativeLoss(), [0.5, 0.2, -0.1, -0.2, -0.3, -0.3, -0.31, -0.32], tag="loss/nll")
    assert len(events) == 1
    event = events[0]
    assert event.step == 2 and event.severity == "error" and event.kind == "negative_loss"
    assert "-0.1" in event.message and "LogSoftmax" in event.hint


def test_rounding_dust_and_losses_that_may_be_negative_are_quiet():
    """-1e-9 on a CE tag is float dust; an ELBO-style tag may legitimately be negative."""
    assert feed(NegativeLoss(), [0.3, 0.01, -1e-9, 0.0], tag="loss/ce") == []
    assert feed(NegativeLoss(), [-3.0, -4.0, -5.0], tag="loss/elbo") == []


def test_reminders_are_bounded_while_it_stays_negative():
    """A loss negative for 1000 steps gives one onset and at most two reminders, not 1000 events."""
    events = feed(NegativeLoss(), [-0.5] * 1000, tag="loss/bce")
    assert events[0].step == 0 and 1 <= len(events) <= 3
    assert all("still" in e.message for e in events[1:])


def test_nll_loss_on_softmax_output_in_real_training(tmp_path):
    """The classic bug: nn.Softmax + F.nll_loss; one error at step 0 naming LogSoftmax/CrossEntropyLoss."""
    torch.manual_seed(0)
    model = mlp(10, 32, 3, last=torch.nn.Softmax(dim=1))
    writer = fit(tmp_path, model, classification(), F.nll_loss,
                 torch.optim.SGD(model.parameters(), lr=0.1), steps=150, batch=32)
    events = kinds(writer.events, "negative_loss")
    assert events[0].step == 0 and events[0].severity == "error"
    assert "nn.LogSoftmax(dim=1)" in events[0].hint and "CrossEntropyLoss" in events[0].hint
    assert len(events) <= 2  # the onset and at most one reminder in 150 steps


def test_a_subtracted_term_under_an_mse_tag_is_caught(tmp_path):
    """The graph leaves the sign open (mse - 1), but the tag says MSE: still reported."""
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)

    def loss_fn(pred, y):
        return F.mse_loss(pred, y) - 1.0

    writer = fit(tmp_path, model, regression(), loss_fn,
                 torch.optim.SGD(model.parameters(), lr=0.05), steps=60, tag="loss/mse/train")
    events = kinds(writer.events, "negative_loss")
    assert len(events) == 1 and events[0].evidence["value"] < 0


def test_a_correct_cross_entropy_run_is_quiet(tmp_path):
    """nn.CrossEntropyLoss on raw logits never trips it."""
    torch.manual_seed(0)
    model = mlp(10, 32, 3)
    writer = fit(tmp_path, model, classification(), F.cross_entropy,
                 torch.optim.SGD(model.parameters(), lr=0.1), steps=100, batch=32)
    assert kinds(writer.events, "negative_loss") == []
