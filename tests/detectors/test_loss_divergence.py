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


def test_a_bad_batch_aftermath_that_recovers_is_not_divergence():
    """Converged at 3e-4, one batch jumps to 15.7, the loss sits near 0.3 for 15 steps, then recovers."""
    rng = np.random.default_rng(0)
    converged = noisy(decay(200, start=1.0, floor=3e-4, tau=8), 1.0)
    shock = [15.7, 0.0028, 0.24, 0.4, 0.935, 0.48, 0.22, 0.24, 0.345, 0.324, 0.288, 0.244, 0.113,
             0.077, 0.109, 0.06, 0.041, 0.07, 0.054, 0.022, 0.091, 0.073, 0.005, 0.032, 0.087]
    after = 4e-4 + np.geomspace(0.03, 1e-4, 75) * np.exp(rng.standard_normal(75))
    assert feed(LossDivergence(), np.concatenate([converged, shock, after])) == []


def test_heavy_tailed_noise_near_zero_is_no_runaway():
    """A converged loss whose values happen to double twice in a row (1e-4 -> 3e-3 -> 0.45) is noise."""
    values = noisy(decay(300, start=1.1, floor=5e-3, tau=20), 1.5, seed=2)
    values[256:259] = [1.9e-4, 2.8e-3, 0.45]
    assert feed(LossDivergence(), values) == []


def test_a_rise_over_one_step_is_not_divergence():
    """A loss that collapses to exactly 0 and then reads 0.1 once has not diverged."""
    values = np.r_[np.linspace(1.0, 0.03, 10), np.zeros(30), 0.12, np.zeros(30)]
    assert feed(LossDivergence(), values) == []
