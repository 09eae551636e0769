"""nonfinite_loss: the loss is NaN or +-Inf."""

import torch

from curve_helpers import feed, fit, mlp, regression
from tb_lossdiag.detectors.nonfinite_loss import NonfiniteLoss

NAN, INF = float("nan"), float("inf")


def test_first_nan_is_one_error_with_the_last_finite_value():
    """The first NaN is an error at its step, naming the last finite value; a long NaN tail adds at most 2 reminders."""
    events = feed(NonfiniteLoss(), [0.9, 0.7, NAN] + [NAN] * 500)
    assert events[0].step == 2 and events[0].severity == "error"
    assert "0.7 at step 1" in events[0].message and "eps" in events[0].hint
    assert 1 <= len(events) <= 3 and all("still" in e.message for e in events[1:])


def test_infinity_counts_and_each_tag_is_its_own_curve():
    """+Inf on one tag fires for that tag only."""
    detector = NonfiniteLoss()
    events = feed(detector, [1.0, INF], tag="loss/a") + feed(detector, [1.0, 1.0], tag="loss/b")
    assert [(e.tag, e.step) for e in events] == [("loss/a", 1)]


def test_finite_losses_are_quiet():
    """Large, tiny, zero and negative finite values are not this detector's business."""
    assert feed(NonfiniteLoss(), [1e30, 1e-30, 0.0, -5.0, 3.0]) == []


def test_lr_far_too_high_is_caught_when_the_loss_overflows(logdir):
    """SGD with lr=10 on a regression: the loss overflows, reported once, at its first non-finite step."""
    torch.manual_seed(0)
    model = mlp(5, 16, 1)
    writer = fit(logdir, model, regression(), torch.nn.functional.mse_loss,
                 torch.optim.SGD(model.parameters(), lr=10.0), steps=60)
    (event,) = [e for e in writer.events if e.kind == "nonfinite_loss" and "still" not in e.message]
    assert event.tag == "loss/train" and event.severity == "error"
    assert "the last finite value was" in event.message
