"""loss_oscillation: the loss swings up and down without converging (learning rate too high)."""

import numpy as np
import torch
import torch.nn.functional as F

from curve_helpers import decay, feed, fit, kinds, noisy, regression
from tb_lossdiag.detectors.loss_oscillation import LossOscillation


def test_scripted_zigzag_is_reported_once_within_50_steps():
    """1.0, 0.5, 1.0, 0.5...: one warning by step 50, however long it lasts."""
    values = noisy([1.0 if i % 2 else 0.5 for i in range(600)], 0.05)
    events = feed(LossOscillation(), values)
    assert events and events[0].step < 50
    assert events[0].kind == "loss_oscillation" and events[0].severity == "warning"
    assert "every other value" in events[0].message and events[0].evidence["period"] == 2
    assert len(events) <= 3  # the onset and at most two reminders, not one per step


def test_scripted_slow_wave_is_reported():
    """A momentum-like swing of period 8 between 0.4 and 1.6 is an oscillation too."""
    values = noisy(1.0 + 0.6 * np.sin(2 * np.pi * np.arange(300) / 8), 0.05)
    events = feed(LossOscillation(), values)
    assert events and events[0].evidence["period"] == 8


def _surges(seed, n=300, low=0.3, high=2.2):
    """Smooth surges from `low` to `high` and back, 12 to 24 steps apart (full-batch GD past its edge)."""
    rng = np.random.default_rng(seed)
    centers = np.cumsum(rng.uniform(12, 24, n // 10))
    bumps = np.exp(-0.5 * ((np.arange(n)[:, None] - centers[None, :]) / 3.0) ** 2).sum(1)
    return noisy(low * (high / low) ** np.minimum(bumps, 1.0), 0.02, seed)


def test_surges_at_drifting_intervals_are_reported():
    """A loss surging 7x and back every 12 to 24 steps, never quite repeating: reported by step 70."""
    for seed in range(3):
        events = feed(LossOscillation(), _surges(seed))
        assert events and events[0].step <= 70 and "oscillates without converging" in events[0].message


def test_a_cyclic_learning_rate_under_minibatch_noise_is_quiet():
    """A 15% swing of period 20 (CyclicLR) under 30% noise on a falling loss never fires."""
    values = decay(600, tau=100) * (1 + 0.15 * np.sin(2 * np.pi * np.arange(600) / 20))
    for seed in range(4):
        assert feed(LossOscillation(), noisy(values, 0.3, seed)) == []


def test_minibatch_noise_is_not_oscillation():
    """30% white minibatch noise on a falling or flat curve never fires."""
    for seed in range(4):
        assert feed(LossOscillation(), noisy(decay(2000, tau=200), 0.3, seed)) == []
        assert feed(LossOscillation(), noisy(np.full(2000, 0.7), 0.3, seed)) == []


def test_a_zigzag_that_still_converges_is_fine():
    """Alternating values on a curve that halves within the window are still converging."""
    values = decay(400, start=2.0, floor=0.0, tau=30) * np.where(np.arange(400) % 2, 1.3, 0.8) + 1e-3
    assert [e for e in feed(LossOscillation(), values) if e.step < 100] == []


def test_l1_regression_with_sgd_lr_2_bounces(tmp_path):
    """nn.L1Loss + SGD(lr=2): the weights overshoot back and forth; one warning naming the lr."""
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    writer = fit(tmp_path, model, regression(128), F.l1_loss,
                 torch.optim.SGD(model.parameters(), lr=2.0), steps=150)
    events = kinds(writer.events, "loss_oscillation")
    onsets = [e for e in events if "still" not in e.message]
    assert len(onsets) == 1 and onsets[0].step < 60
    assert len(events) <= 2  # 150 steps: the onset and at most one reminder (100 steps later)
    assert "learning rate" in events[0].hint and "scheduler" in events[0].hint


def test_l1_regression_with_a_small_lr_is_quiet(tmp_path):
    """The same model with SGD(lr=0.05) converges without a word."""
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    writer = fit(tmp_path, model, regression(128), F.l1_loss,
                 torch.optim.SGD(model.parameters(), lr=0.05), steps=300, batch=32)
    assert kinds(writer.events, "loss_oscillation") == []


# One epoch of label-sorted batches (zoo sorted_labels_no_shuffle): several peaks per period.
_EPOCH_WAVE = [0.078, 0.148, 0.279, 0.253, 0.129, 0.121, 0.040, 0.021, 0.071, 0.128, 0.323, 0.468]


def _epochs(scale, n=300, seed=0):
    """A fast initial descent from 1.1, then the epoch wave (times `scale`) repeating with 2% noise."""
    wave = np.tile(_EPOCH_WAVE, n // len(_EPOCH_WAVE) + 1)[:n] * scale
    start = decay(n, start=1.1, floor=0.0, tau=10)
    return noisy(np.maximum(start, wave), 0.02, seed)


def test_sorted_labels_epoch_wave_is_reported():
    """A loss repeating a 12-step epoch wave between 0.02 and 0.47, never converging: one warning."""
    events = feed(LossOscillation(), _epochs(1.0))
    assert events and events[0].evidence["period"] == 12 and events[0].step < 200
    assert "period of about 12 values" in events[0].message and "shuffle" in events[0].hint


def test_unshuffled_batches_at_a_converged_floor_are_quiet():
    """The same repeating epoch pattern 1000x below the initial loss: fixed batch order, not a problem."""
    assert feed(LossOscillation(), _epochs(1e-3)) == []
