"""loss_oscillation: the loss swings up and down in a repeating rhythm without converging."""

import dataclasses
import functools
import math

import numpy as np

from tb_lossdiag.detectors.curve import CurveDetector, Trace, _centered, detrend, fmt, still

HINT = (
    "The learning rate is likely too high, so each step overshoots the minimum: lower it "
    "(e.g. 3-10x), use a scheduler that decays it (torch.optim.lr_scheduler.CosineAnnealingLR "
    "or ReduceLROnPlateau), lower the momentum, or clip gradients "
    "(torch.nn.utils.clip_grad_norm_). If the rhythm is one epoch long, the data may be "
    "ordered (e.g. sorted by label): shuffle it (DataLoader(..., shuffle=True))."
)


class LossOscillation(CurveDetector):
    """Fires when the loss repeats a large up-down pattern, period after period, and stops improving.

    Minibatch noise never repeats: the loss P values apart differs as much as the loss 1 value
    apart. An overshooting optimizer (a zigzag, a momentum wave) or an epoch of label-sorted
    batches makes the loss repeat itself every P values while it swings far within a period.
    """

    id = "loss_oscillation"

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        window: int = 64  # logged values judged together
        min_points: int = 32  # no judgement before this many values (the window fills later)
        max_period: int = 24  # longest rhythm looked for, in values
        max_repeat: float = 0.35  # change over a period / largest change within it (noise: ~1)
        smooth_repeat: float = 0.65  # ...enough for a smooth wave (its period may drift, as surges do)
        max_smoothness: float = 0.45  # a wave is smooth: its one-value change / largest change (noise: ~1)
        min_swing: float = 0.5  # typical relative change within a period (a 1.5x swing)
        min_swing_of_start: float = 0.05  # ...and in absolute terms, this fraction of the initial loss
        min_improvement: float = 0.05  # a level falling this much (relative) within the window...
        improvement_of_swing: float = 1.5  # ...and this multiple of the swing (log) is converging
        confirm: int = 2  # analyses in a row the rhythm must show (or be gone) in to start (or end) it
        every: int = 8  # values between analyses (each costs O(window * max_period))
        reminders: int = 2

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._turning = {}  # tag -> analyses in a row that disagree with its current state

    def new_state(self):
        return Trace(recent=self.thresholds.window)

    def calm(self, tag, trace):
        return not self.episodes.active(tag)

    def marks(self, trace, steps, values):
        # Out of an episode an analysis matters only if it may find a rhythm, which needs a swing
        # (the mean change over some lag of the detrended log window) of at least log1p(min_swing).
        # Bound for every analysis at once: the mean change over lag L of the log window before
        # detrending, plus what its straight line moves in L values.
        t = self.thresholds
        if not trace.mature:
            return None
        ends = np.flatnonzero((trace.count + np.arange(1, len(values) + 1)) % t.every == 0)
        if not len(ends):
            return ends
        history = np.concatenate([trace.values(), values])
        window, max_lag = t.window, min(t.max_period, t.window // 2)
        starts = ends + len(history) - len(values) - window + 1  # each due window's first value in history
        positive = history > 0
        logs = np.log(np.where(positive, history, 1.0))
        n = len(logs) - max_lag
        changes = np.abs(np.stack([logs[lag: lag + n] for lag in range(1, max_lag + 1)]) - logs[:n])
        # changes[L - 1, t] = |log x[t + L] - log x[t]|, summed over each window's starts below
        sums = np.concatenate([np.zeros((max_lag, 1)), np.cumsum(changes, axis=1)], axis=1)
        span = window - max_lag
        means = (sums[:, starts + span] - sums[:, starts]) / span  # [L - 1, window]
        windows = np.lib.stride_tricks.sliding_window_view(logs, window)[starts]
        centered, var = _centered(window)
        slopes = np.abs(windows @ centered) / var  # as detrend() fits them
        bound = (means + slopes[None, :] * np.arange(1, max_lag + 1)[:, None]).max(axis=0)
        whole = np.lib.stride_tricks.sliding_window_view(positive, window)[starts].all(axis=1)
        return ends[~whole | (bound >= 0.999 * math.log1p(t.min_swing))]

    def absorb(self, tag, trace, steps, values):
        if (trace.count + len(values)) // self.thresholds.every > trace.count // self.thresholds.every:
            self._turning[tag] = 0  # an analysis found no rhythm, as the episode has none
        trace.extend(steps, values)

    def judge(self, point, trace):
        t = self.thresholds
        if not trace.add(point.step, point.value) or trace.count < t.min_points or not trace.due(t.every):
            return ()
        values = np.array(trace.values())
        low, high = float(values.min()), float(values.max())
        positive = low > 0
        # Logs make multiplicative minibatch noise even across the curve's range.
        series = np.log(values) if positive else values
        changes = _changes(detrend(series), min(t.max_period, len(values) // 2))
        period, repeat, swing_lag, swing = _rhythm(changes, t.max_repeat)
        # Noise jumps as far in one value as in ten; a wave moves there step by step.
        smooth = swing > 0 and changes[0] <= t.max_smoothness * swing
        decline = _decline(series, period)
        if positive:
            relative_swing = math.expm1(swing)
            fell = -math.expm1(-decline)
        else:
            magnitude = np.abs(values)
            relative_swing = swing / (float(magnitude.mean()) or 1.0)
            decline /= float(magnitude.max()) or 1.0
            fell = decline
        converging = decline >= max(t.min_improvement, t.improvement_of_swing * swing)
        rhythm = (
            not converging
            and (repeat <= t.max_repeat or smooth and repeat <= t.smooth_repeat)
            and relative_swing >= t.min_swing
            and _amplitude(values, swing_lag) >= t.min_swing_of_start * abs(trace.start or 0.0)
        )
        # Hysteresis: the rhythm starts, and ends, only when `confirm` analyses in a row agree.
        active = self.episodes.active(point.tag)
        turning = self._turning[point.tag] = self._turning.get(point.tag, 0) + 1 if rhythm != active else 0
        if turning >= t.confirm:
            active, self._turning[point.tag] = rhythm, 0
        state = self.episodes.update(point.tag, active, point.step)
        if state is None:
            return ()
        first_step = trace.recent[0][0]
        every = "every other value" if period == 2 else f"with a period of about {period} values"
        return [
            self.event(
                point.step,
                "warning",
                point.tag,
                f"loss {still(state)}oscillates without converging over steps {first_step}\u2013{point.step}: "
                f"it swings between {fmt(low)} and {fmt(high)} {every} (typical swing "
                f"{fmt(100 * relative_swing)}%, repeating to within {fmt(100 * repeat)}% of it), "
                f"and its level fell only {fmt(max(0.0, 100 * fell))}% over the window, little next to "
                "the swings",
                HINT,
                period=period,
                repeat=repeat,
                swing=relative_swing,
                low=low,
                high=high,
            )
        ]


def _amplitude(values, lag):
    """Mean absolute change of `values` over `lag` (called last: most analyses are settled before)."""
    return float(np.abs(values[lag:] - values[:-lag]).mean())


def _changes(resid, max_lag):
    """Mean absolute change of `resid` over each lag 1..max_lag (item lag - 1), all over the same starts."""
    windows = resid[_lag_indices(len(resid), max_lag)]
    return (np.add.reduce(np.abs(windows[:, 1:] - windows[:, :1]), axis=0) / len(windows)).tolist()


@functools.lru_cache(maxsize=256)
def _lag_indices(n, max_lag):
    """Index rows t, t + 1, ..., t + max_lag for every start t that keeps them within n values."""
    return np.arange(n - max_lag)[:, None] + np.arange(max_lag + 1)


def _rhythm(changes, repeats):
    """(period, repeat ratio, lag of the largest change within it, that change) of the clearest rhythm.

    `changes` are the mean changes over lags 1, 2, ... The repeat ratio is the change over the
    period divided by the largest change over any shorter lag: about 1 for noise and for trends,
    near 0 for a pattern that repeats. The period is the shortest lag repeating within `repeats`
    (multiples of it repeat too), else the best one.
    """
    best = (2, math.inf, 1, 0.0)
    largest, largest_lag = 0.0, 1
    for lag, change in enumerate(changes, 1):
        if lag > 1 and largest > 0 and change / largest < best[1]:
            best = (lag, change / largest, largest_lag, largest)
            if best[1] <= repeats:
                break
        if change > largest:
            largest, largest_lag = change, lag
    return best


def _decline(series, period):
    """How far the level of `series` fell across it (0 = flat), from its first and last whole periods' means."""
    span = max(1, len(series) // 2 // period) * period
    # Whole periods average the rhythm out; their means lie len - span values apart.
    return float(series[:span].sum() - series[-span:].sum()) / span * len(series) / (len(series) - span)
