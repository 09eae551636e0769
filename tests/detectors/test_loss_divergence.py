"""loss_divergence: the loss grows steadily or explodes (learning rate too high)."""

import numpy as np
import torch
import torch.nn.functional as F

from curve_helpers import classification, decay, feed, fit, kinds, mlp, noisy, problems, regression
from tb_lossdiag.detectors.loss_divergence import LossDivergence


def test_scripted_steady_growth_is_reported_soon_with_numbers():
    """After 200 good steps the loss climbs 2% a step: one warning within 50 steps of the turn."""
    down = decay(200, start=2.3, floor=0.4, tau=40)
    up = down[-1] * 1.02 ** np.arange(1, 201)
    events = feed(LossDivergence(), noisy(np.concatenate([down, up]), 0.05))
    assert events, "a loss that doubled and kept climbing went unreported"
    first = events[0]
    assert first.kind == "loss_divergence" and first.severity == "warning"
    assert 200 < first.step <= 250
    assert first.message.startswith("loss rose from 0.4") and "over steps" in first.message
    assert first.evidence["level"] >= 2 * first.evidence["best_level"]


def test_scripted_explosion_is_an_error():
    """A loss multiplied by 10 each step is an explosion: an error, reported before it overflows."""
    values = [1.0, 0.9, 0.85, 0.8, 0.8, 0.78] + [0.78 * 10.0 ** k for k in range(1, 30)]
    events = feed(LossDivergence(), values)
    assert any(e.severity == "error" and "exploded" in e.message for e in events)
    assert events[0].step <= 15
    assert len(events) <= 2  # the onset, and its escalation to an explosion


def test_clean_noisy_descent_and_flat_floor_are_quiet():
    """Noisy minibatch losses falling to a floor (also one near zero) never look like divergence."""
    for seed in range(3):
        assert feed(LossDivergence(), noisy(decay(3000, tau=150), 0.3, seed)) == []
    floor = noisy(np.full(3000, 1e-5), 1.0, seed=4)  # converged: float dust at 1e-5
    floor[:50] = np.linspace(1.0, 1e-5, 50)
    assert feed(LossDivergence(), floor) == []


def test_validation_curves_are_left_to_overfitting():
    """A rising validation loss is not blamed on the learning rate."""
    values = np.concatenate([decay(50, tau=10), np.linspace(0.3, 3.0, 100)])
    assert feed(LossDivergence(), values, tag="loss/val", validation=True) == []


def test_sgd_lr_10_regression_explodes_and_is_named_before_the_nan(tmp_path):
    """SGD(lr=10) on linear regression: divergence is reported before nonfinite_loss, once per onset."""
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    writer = fit(tmp_path, model, regression(), F.mse_loss,
                 torch.optim.SGD(model.parameters(), lr=10.0), steps=60)
    events = kinds(writer.events, "loss_divergence")
    assert events and events[0].severity == "error"
    assert "exploded from" in events[0].message and "lower it" in events[0].hint
    nonfinite = kinds(writer.events, "nonfinite_loss")
    assert not nonfinite or events[0].step < nonfinite[0].step
    assert len(events) <= 2


def test_sgd_lr_10_classification_blows_up(tmp_path):
    """SGD(lr=10) on an MLP classifier: one divergence onset (plus at most its escalation)."""
    torch.manual_seed(0)
    model = mlp(10, 32, 3)
    writer = fit(tmp_path, model, classification(), F.cross_entropy,
                 torch.optim.SGD(model.parameters(), lr=10.0), steps=120, batch=32)
    events = kinds(writer.events, "loss_divergence")
    assert events and events[0].step < 50
    assert any(e.severity == "error" for e in events)
    assert len(events) <= 3


def test_the_same_problem_with_a_sane_lr_is_quiet(tmp_path):
    """SGD(lr=0.1) on the same classifier: no warning from any detector."""
    torch.manual_seed(0)
    model = mlp(10, 32, 3)
    writer = fit(tmp_path, model, classification(), F.cross_entropy,
                 torch.optim.SGD(model.parameters(), lr=0.1), steps=300, batch=32)
    assert problems(writer.events) == []


def test_rise_ratio_is_tunable():
    """tune={"loss_divergence": {"rise_ratio": 50}} tolerates a 3x rise."""
    values = np.concatenate([decay(100, tau=20), np.full(100, 0.2 * 3)])
    assert feed(LossDivergence(), values)
    assert feed(LossDivergence(rise_ratio=50.0, explode_ratio=100.0), values) == []
