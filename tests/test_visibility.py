"""The visibility reference sees each curve condition where a person reading the chart would, and only there."""

import pathlib
import sys

import numpy as np
import pytest

from curve_helpers import decay, noisy

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package

from benchmarks import visibility  # noqa: E402

SEEDS = range(3)


def _curve(values, every=1, first=0):
    """(step, value) pairs of `values` logged every `every` steps from step `first`."""
    return [(first + every * i, float(v)) for i, v in enumerate(values)]


def _after_bad_batch(seed):
    """A loss falling to 0.2 with 20% noise; one batch at step 200 is 100x, the next few 3x, 2x, 1.5x."""
    values = noisy(decay(400, tau=40), 0.2, seed)
    values[200:204] *= (100, 3, 2, 1.5)
    return values


def test_the_textbook_statistics():
    """Mann-Kendall and Mann-Whitney point the right way; Theil-Sen ignores an outlier."""
    assert visibility.mann_kendall(np.arange(20.0)) > 4 > -4 > visibility.mann_kendall(-np.arange(20.0))
    assert visibility.mann_whitney([5, 6, 7], [1, 2, 3]) > visibility.Z_TREND
    steps = np.arange(10.0)
    slope, intercept = visibility.theil_sen(steps, np.where(steps == 5, 100.0, 2 * steps + 1))
    assert (slope, intercept) == pytest.approx((2.0, 1.0))


@pytest.mark.parametrize("seed", SEEDS)
def test_divergence_is_seen_within_40_steps_of_the_turn(seed):
    """Down to 0.2 by step 150, then up 3% a step (10% noise): seen by step 190, not before the turn."""
    values = np.r_[decay(150, tau=30), 0.2 * 1.03 ** np.arange(200)]
    step = visibility.divergence(_curve(noisy(values, 0.1, seed)))
    assert step is not None and 150 < step <= 190


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_and_a_bad_batch_show_no_condition(seed):
    """A falling loss with 30% noise and one bad batch show nothing; a flat one, 100% noisy, no divergence."""
    for values in (noisy(decay(1000, tau=100), 0.3, seed), _after_bad_batch(seed)):
        assert visibility.visible({"loss/train": _curve(values)}) == {}
    assert visibility.divergence(_curve(noisy(np.full(1000, 0.7), 1.0, seed))) is None


@pytest.mark.parametrize("seed", SEEDS)
def test_a_flat_loss_is_a_plateau_once_100_values_show_it(seed):
    """Stuck at 2.3 (5% noise): a plateau at step 99, the first step with 100 values to judge."""
    assert visibility.plateau(_curve(noisy(np.full(300, 2.3), 0.05, seed))) == 99


@pytest.mark.parametrize("seed", SEEDS)
def test_a_converged_floor_and_a_slow_start_are_no_plateau(seed):
    """Down from 2.3 to 0.2 in 30 steps then flat for 1000; a 20%-noise descent over 300 steps: none."""
    assert visibility.plateau(_curve(noisy(decay(1000, tau=10), 0.2, seed))) is None
    assert visibility.plateau(_curve(noisy(decay(1500, tau=300), 0.2, seed))) is None


@pytest.mark.parametrize("seed", SEEDS)
def test_zigzag_and_wave_are_seen_after_three_cycles(seed):
    """1.0, 0.5, 1.0... and a period-8 wave between 0.4 and 1.6: both seen by step 40."""
    zigzag = noisy([1.0 if i % 2 else 0.5 for i in range(300)], 0.05, seed)
    wave = noisy(1.0 + 0.6 * np.sin(2 * np.pi * np.arange(300) / 8), 0.05, seed)
    for values in (zigzag, wave):
        step = visibility.oscillation(_curve(values))
        assert step is not None and step <= 40


def test_oscillations_that_a_chart_does_not_show():
    """A zigzag on a loss halving every 20 steps converges; a wave 1000x below the start is a flat line."""
    converging = decay(400, start=2.0, floor=0.0, tau=30) * np.where(np.arange(400) % 2, 1.3, 0.8) + 1e-3
    tiny_wave = np.r_[decay(100, start=1.1, floor=1e-3, tau=10), 1e-3 * (1 + 0.6 * np.sin(np.arange(300)))]
    for values in (converging, tiny_wave):
        assert visibility.oscillation(_curve(values)) is None


@pytest.mark.parametrize("seed", SEEDS)
def test_a_cyclic_learning_rate_under_noise_is_no_oscillation(seed):
    """A 10% swing of period 20 under 30% minibatch noise, the loss still falling: not visible."""
    values = decay(600, tau=100) * (1 + 0.1 * np.sin(2 * np.pi * np.arange(600) / 20))
    assert visibility.oscillation(_curve(noisy(values, 0.3, seed))) is None


def _overfitting_curves(seed, turn=250, n=600):
    """Training falls throughout; validation (every 5 steps) falls until `turn`, then climbs 0.5% a step."""
    val = decay(n, tau=100, floor=0.3)
    val[turn:] = val[turn] * 1.005 ** np.arange(n - turn)
    train = _curve(noisy(decay(n, tau=100, floor=0.05), 0.1, seed))
    return train, _curve(noisy(val, 0.02, seed + 1)[4::5], every=5, first=4)


@pytest.mark.parametrize("seed", SEEDS)
def test_overfitting_is_seen_once_validation_is_a_fifth_up(seed):
    """Validation turning up 0.5% a step at step 250 while training falls: seen 40 to 80 steps later."""
    train, val = _overfitting_curves(seed)
    step = visibility.overfitting(train, val)
    assert step is not None and 290 <= step <= 330


def test_validation_that_tracks_training_or_rises_with_it_is_no_overfitting():
    """Validation noisily following training down; both rising together; a converged one wiggling: none."""
    train = _curve(noisy(decay(2000, tau=200), 0.2))
    tracking = _curve(noisy(decay(2000, tau=200, floor=0.25), 0.05, 10)[9::10], every=10, first=9)
    both_train = _curve(np.r_[decay(200, tau=50), np.linspace(0.2, 1.0, 200)])
    both_val = _curve(np.r_[decay(200, tau=50, floor=0.3), np.linspace(0.3, 1.2, 200)][4::5], every=5, first=4)
    wiggle_train = _curve(noisy(decay(300, start=1.1, floor=5e-4, tau=15), 0.3))
    wiggle_val = _curve(np.r_[decay(12, start=1.1, floor=0.0074, tau=2), np.linspace(0.0074, 0.0093, 18)],
                        every=10, first=9)
    for t, v in ((train, tracking), (both_train, both_val), (wiggle_train, wiggle_val)):
        assert visibility.overfitting(t, v) is None


def test_visible_reads_validation_tags_and_stops_at_the_first_nan():
    """A run's curves by tag name: validation pairs with training; nothing after a NaN is read."""
    train, val = _overfitting_curves(0)
    assert visibility.visible({"loss/train": train, "loss/val": val}) == {
        "overfitting": visibility.overfitting(train, val)
    }
    flat_then_nan = _curve(np.r_[noisy(np.full(50, 2.3), 0.05), np.nan, np.full(100, 2.3)])
    assert visibility.visible({"loss/train": flat_then_nan}) == {}
