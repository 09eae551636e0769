"""negative_loss: a loss that cannot be negative (NLL, CE, MSE...) went below zero."""

import numpy as np
import torch
import torch.nn.functional as F

from curve_helpers import classification, feed, fit, kinds, mlp, noisy, regression
from tb_lossdiag import DiagWriter
from tb_lossdiag.detectors import LossPoint
from tb_lossdiag.detectors.negative_loss import NegativeLoss
from tb_lossdiag.graph import LossGraph


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


def test_a_float_loss_negative_from_its_first_values_in_minus_one_to_zero_is_likely_nll_on_probabilities():
    """-p[target] rising from -0.1 toward -0.9 (nll_loss on softmax output, logged with .item()):
    a warning at the 5th value, and its likely cause named as an nll_on_probabilities event."""
    values = -(0.1 + 0.8 * (1 - np.exp(-np.arange(200) / 80))) + 0.01 * np.random.default_rng(0).standard_normal(200)
    events = feed(NegativeLoss(), values, tag="loss/train")
    assert [(e.step, e.severity, e.kind) for e in events] == [
        (4, "warning", "negative_loss"), (4, "warning", "nll_on_probabilities")]
    assert "likely nll_loss fed probabilities" in events[1].message and "LogSoftmax" in events[1].hint
    assert events[1].category == "curve"  # inferred from the curve: a diagnosis rooted on it is "likely"


def test_other_negative_losses_do_not_get_the_nll_wording():
    """-dice named so, a loss that starts positive and settles at -0.3, one below -1, a graph
    naming another loss: none is called nll_loss on probabilities."""
    neg_dice = -(0.05 + 0.9 * (1 - np.exp(-np.arange(200) / 80)))
    assert feed(NegativeLoss(), neg_dice, tag="loss/neg_dice") == []
    assert feed(NegativeLoss(), 0.3 * np.exp(-np.arange(200) / 20) - 0.3 * (1 - np.exp(-np.arange(200) / 20))) == []
    assert feed(NegativeLoss(), np.linspace(-1.5, -3.0, 200)) == []
    graph = LossGraph(loss_fn="cosine_embedding_loss")
    assert not any("nll_loss" in e.message or e.kind == "nll_on_probabilities" for e in
                   [e for v in neg_dice for e in NegativeLoss().on_loss(LossPoint("loss", 0, float(v), graph=graph))])


def test_a_loss_falling_without_bound_is_an_error_and_a_converging_one_is_not():
    """0/255 masks in BCEWithLogitsLoss logged as floats: 0.7 falling ~1.4 a step, and an
    exponential runaway, are errors within 35 values; a loss converging to a negative floor
    (an ELBO from 0.3 to -5), noisy or not, and a straight line from 5 to -5 are not."""
    rng = np.random.default_rng(0)
    for values in (0.7 - 1.4 * np.arange(200) + 0.3 * rng.standard_normal(200), 1.5 - np.exp(np.arange(200) / 8)):
        events = feed(NegativeLoss(), values, tag="Training/Loss")
        assert events[0].severity == "error" and events[0].step < 35
        assert "falls without bound" in events[0].message and "divided by 255" in events[0].hint
    elbo = -5 + 5.3 * np.exp(-np.arange(600) / 50)
    assert feed(NegativeLoss(), elbo) == []
    assert feed(NegativeLoss(), noisy(elbo + 5, 0.1) - 5) == []
    assert feed(NegativeLoss(), np.linspace(5, -5, 300)) == []


def test_the_graph_names_the_loss_and_its_target_range():
    """A BCE-with-logits graph: below zero by definition names the targets' range; summed with
    another term (0.5 * bce + 0.5 * dice), 5 values below zero are a warning; one is not."""
    bce = LossGraph(loss_fn="binary_cross_entropy_with_logits", nonnegative=True)
    (event,) = NegativeLoss().on_loss(LossPoint("loss", 3, -1.6, graph=bce))
    assert event.severity == "error" and "expects targets in [0, 1]" in event.message
    summed = LossGraph(loss_fn="binary_cross_entropy_with_logits")
    detector = NegativeLoss()
    events = [e for i, v in enumerate([0.2, -0.5, -0.9, -1.2, -0.8, -1.5, -2.0])
              for e in detector.on_loss(LossPoint("loss", i, v, graph=summed))]
    assert [(e.step, e.severity) for e in events] == [(5, "warning")]
    assert "holds binary_cross_entropy_with_logits" in events[0].message and "[0, 1]" in events[0].message
    once = [e for i, v in enumerate([0.5, 0.4, -0.1, 0.3, 0.2, 0.2])
            for e in NegativeLoss().on_loss(LossPoint("loss", i, v, graph=summed))]
    assert once == []


def test_masks_read_as_0_255_in_bce_with_logits_real_training(tmp_path):
    """The bug as written: targets of 0/255; the loss logged as a float falls without bound (an
    error), the tensor names binary_cross_entropy_with_logits and its range at once."""
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    masks = (x[:, :4] > 0).float() * 255
    for log_float in (True, False):
        model = torch.nn.Linear(8, 4)
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        writer = DiagWriter(str(tmp_path / str(log_float)))
        for step in range(60):
            loss = torch.nn.BCEWithLogitsLoss()(model(x), masks)
            opt.zero_grad()
            loss.backward()
            opt.step()
            writer.add_scalar("Training/Loss", loss.item() if log_float else loss, step)
        writer.close()
        events = kinds(writer.events, "negative_loss")
        assert events and events[0].severity == "error", log_float
        if log_float:
            assert "falls without bound" in events[0].message
        else:
            assert "binary_cross_entropy_with_logits" in events[0].message and "[0, 1]" in events[0].message


def test_a_float_copy_of_a_loss_whose_graph_named_nll_loss_is_no_second_finding():
    """Lightning logs the returned loss tensor and self.log's float of it: once a graph named nll_loss
    (the graph checks judge what feeds it), the float copy's [-1, 0] values add no likely finding; the
    same float values alone do."""
    values = [-0.29, -0.3, -0.31, -0.3, -0.32, -0.33]
    detector = NegativeLoss()
    graph = LossGraph(loss_fn="nll_loss", input_op="SoftmaxBackward0")
    events = [e for i, v in enumerate(values) for e in
              [*detector.on_loss(LossPoint("training_step/loss", i, v, graph=graph)),
               *detector.on_loss(LossPoint("train_loss", i, v))]]
    assert not any(e.kind == "nll_on_probabilities" for e in events)
    assert any(e.kind == "nll_on_probabilities" for e in feed(NegativeLoss(), values, tag="train_loss"))
