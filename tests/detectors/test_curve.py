"""The curve detectors' shared parts: the number format, episodes that end, the CurveDetector base."""

import collections
import dataclasses
import re

import numpy as np
import pytest

from curve_helpers import feed, random_curve
from tb_lossdiag.detectors import (
    LossDivergence, LossOscillation, LossPlateau, LossPoint, LossSpike, NegativeLoss, NonfiniteLoss, Overfitting,
)
from tb_lossdiag.detectors.curve import CurveDetector, Episodes, fmt


def test_fmt_keeps_small_and_large_numbers_readable():
    """2e-5 never reads as 0; exponents lose Python's padding; ordinary values keep 4 digits."""
    assert fmt(2e-5) == "2e-5"
    assert fmt(-1.234567e10) == "-1.235e10"
    assert fmt(3.2e4) == "3.2e4"
    assert fmt(0.41234) == "0.4123" and fmt(0.0) == "0" and fmt(float("inf")) == "inf"


def test_a_spike_above_a_tiny_level_names_that_level():
    """A loss converged at 2e-5 that jumps to 0.5 once: the message says 2e-5, not 0."""
    values = 2e-5 * np.exp(0.1 * np.random.default_rng(0).standard_normal(200))
    values[150] = 0.5
    events = feed(LossSpike(), values)
    assert events and re.search(r"recent level of 2\.\d+e-5 \(2\.\d+e4x\)", events[0].message)


def test_episodes_that_end_say_so_once_with_their_start():
    """An episode reported at step 10 (begun at 3) that stops holding at 40: 'ended' once, start 3."""
    episodes = Episodes(ends=True)
    assert episodes.update("t", True, 10, start=3) == "onset"
    assert episodes.update("t", True, 20) is None
    assert episodes.update("t", False, 40) == "ended" and episodes.start("t") == 3
    assert episodes.update("t", False, 50) is None
    assert Episodes().update("t", True, 1) == "onset" and Episodes().update("t", False, 2) is None


class _Count(CurveDetector):
    id = "count"

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        reminders: int = 0

    def judge(self, point, state):
        state.add(point.step, point.value)
        return [self.event(point.step, "info", point.tag, str(state.count), "")]


def test_curve_detectors_see_training_values_per_tag_and_skip_validation():
    """Each tag keeps its own state; validation values never reach judge() unless asked for."""
    detector = _Count()
    seen = [e.message for tag, val in [("a", False), ("b", False), ("a", False), ("a/val", True)]
            for e in detector.on_loss(LossPoint(tag, 0, 1.0, val))]
    assert seen == ["1", "1", "2"]


def test_trace_keeps_its_statistics_exact_while_caching_them():
    """Levels and noises equal a fresh computation over the values, at every count."""
    from tb_lossdiag.detectors.curve import Trace
    from tb_lossdiag.robust import diff_sigma, log_noise, median

    values = (1 + np.arange(300) / 100) * np.exp(0.2 * np.random.default_rng(1).standard_normal(300))
    trace, other = Trace(recent=40), Trace(recent=40)
    for count, value in enumerate(values.tolist(), 1):
        trace.add(count, value)
        other.add(count, value)  # a second Trace of the same curve: its blocks come from the cache
        blocks = [values[i: i + 16].tolist() for i in range(0, count - count % 16, 16)][-32:]
        assert trace.values() == values[max(0, count - 40): count].tolist()
        assert trace.values(7) == values[max(0, count - 7): count].tolist()
        if blocks:
            assert trace.noise() == other.noise() == median([diff_sigma(b) for b in blocks])
            assert trace.log_noise() == median([log_noise(b) for b in blocks])
            assert trace.best[0] <= min(median(b) for b in blocks)


def _snapshot(obj, depth=0):
    """A detector's state as plain comparable values (floats by repr, so NaN equals NaN), caches left out."""
    if isinstance(obj, float):
        return repr(obj)
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, (list, tuple, collections.deque)):
        return [_snapshot(item, depth + 1) for item in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(map(repr, obj))
    if isinstance(obj, dict):
        return [(repr(key), _snapshot(value, depth + 1)) for key, value in obj.items()]
    if callable(obj) or dataclasses.is_dataclass(obj):
        return type(obj).__name__
    return type(obj).__name__, {name: _snapshot(value, depth + 1) for name, value in vars(obj).items()
                                if name != "_noises"}  # Trace's cache of its own blocks


@pytest.mark.parametrize("kind", [LossDivergence, LossOscillation, LossPlateau, LossSpike, Overfitting,
                                  NegativeLoss, NonfiniteLoss])
def test_values_taken_in_bulk_leave_a_detector_as_value_by_value(kind):
    """on_losses() over stretches of a curve (cut at random places) gives the events of on_loss() of
    each value and leaves the detector in the same state, so every later event is the same too."""
    rng = np.random.default_rng(0)
    calm = 1.0 + 0.05 * rng.standard_normal(2000)
    edges = [
        np.r_[calm, 30.0, 60.0, 120.0, 240.0, calm],  # a runaway within 3 values
        np.where(np.arange(3000) % 400 == 399, 4.0, 1.0) * np.exp(0.2 * rng.standard_normal(3000)),  # moderate spikes
        np.r_[calm, -calm * np.arange(1, 2001) * 0.01],  # below zero and falling without bound
        np.r_[calm[:500], np.nan, calm[:500], np.nan, np.inf, -calm[:300]],  # NaN/Inf, then negative
    ]
    for seed, values in enumerate(edges + [np.array([v for _, v, _ in random_curve(seed, n=3000)["loss/train"]])
                                           for seed in range(8)]):
        steps = np.arange(len(values))
        one, bulk = kind(), kind()
        expected = [(i, e) for i, v in enumerate(values) for e in one.on_loss(LossPoint("loss/train", i, float(v)))]
        found, cuts = [], np.sort(np.random.default_rng(seed).integers(0, len(values), 6))
        for start, stop in zip([0, *cuts], [*cuts, len(values)]):
            found += [(int(start) + i, e) for i, events in bulk.on_losses("loss/train", steps[start:stop],
                                                                     values[start:stop], False) for e in events]
        assert repr(found) == repr(expected)  # repr: a NaN in evidence equals itself
        assert _snapshot(bulk) == _snapshot(one)
