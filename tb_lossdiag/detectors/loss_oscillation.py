"""loss_oscillation: the loss swings up and down in a repeating rhythm without converging."""

import dataclasses
import math
import operator

from tb_lossdiag.detectors.base import Detector
from tb_lossdiag.detectors.curve import Episodes, PerTag, Trace, detrend, fmt, still

HINT = (
    "The learning rate is likely too high, so each step overshoots the minimum: lower it "
    "(e.g. 3-10x), use a scheduler that decays it (torch.optim.lr_scheduler.CosineAnnealingLR "
    "or ReduceLROnPlateau), lower the momentum, or clip gradients "
    "(torch.nn.utils.clip_grad_norm_). If the rhythm is one epoch long, the data may be "
    "ordered (e.g. sorted by label): shuffle it (DataLoader(..., shuffle=True))."
)


class LossOscillation(Detector):
    """Fires when the loss repeats a large up-down pattern, period after period, and stops improving.

    Minibatch noise never repeats: the loss P values apart differs as much as the loss 1 value
    apart. An overshooting optimizer (a zigzag, a momentum wave) or an epoch of label-sorted
    batches makes the loss repeat itself every P values while it swings far within a period.
    """

    id = "loss_oscillation"
    deferrable = True

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        window: int = 64  # logged values judged together
        min_points: int = 32  # no judgement before this many values (the window fills later)
        max_period: int = 24  # longest rhythm looked for, in values
        max_repeat: float = 0.35  # change over a period / largest change within it (noise: ~1)
        min_swing: float = 0.5  # typical relative change within a period (a 1.5x swing)
        min_swing_of_start: float = 0.05  # ...and in absolute terms, this fraction of the initial loss
        min_improvement: float = 0.05  # a level falling this much (relative) within the window...
        improvement_of_swing: float = 0.25  # ...and this fraction of the swing (log) is converging
        confirm: int = 2  # analyses in a row the rhythm must show in before it is reported
        every: int = 8  # values between analyses (each costs O(window * max_period))
        reminders: int = 2

    def __init__(self, **overrides):
        super().__init__(**overrides)
        t = self.thresholds
        self._episodes = Episodes(reminders=t.reminders)
        self._traces = PerTag(lambda: Trace(recent=t.window))
        self._held = {}  # tag -> analyses in a row that showed the rhythm

    def on_loss(self, point):
        if point.is_validation:
            return ()  # validation noise and overfitting are not the optimizer's oscillation
        t = self.thresholds
        trace = self._traces.get(point.tag)
        if not trace.add(point.step, point.value) or trace.count < t.min_points or not trace.due(t.every):
            return ()
        values = trace.values()
        positive = min(values) > 0
        # Logs make multiplicative minibatch noise even across the curve's range.
        series = [math.log(v) for v in values] if positive else values
        # Hysteresis: once oscillating, a weaker rhythm keeps it one episode.
        limit = 2 * t.max_repeat if self._episodes.active(point.tag) else t.max_repeat
        period, repeat, swing_lag, swing = _rhythm(detrend(series), t.max_period, limit)
        decline = _decline(series, period)
        if positive:
            relative_swing = math.expm1(swing)
            fell = -math.expm1(-decline)
        else:
            relative_swing = swing / (sum(map(abs, values)) / len(values) or 1.0)
            decline /= max(abs(v) for v in values) or 1.0
            fell = decline
        amplitude = _mean_change(values, swing_lag)
        converging = decline >= max(t.min_improvement, t.improvement_of_swing * swing)
        rhythm = (
            not converging
            and repeat <= limit
            and relative_swing >= t.min_swing
            and amplitude >= t.min_swing_of_start * abs(trace.start or 0.0)
        )
        held = self._held[point.tag] = self._held.get(point.tag, 0) + 1 if rhythm else 0
        state = self._episodes.update(point.tag, held >= t.confirm, point.step)
        if state is None:
            return ()
        first_step = trace.recent[0][0]
        low, high = min(values), max(values)
        every = "every other value" if period == 2 else f"with a period of about {period} values"
        return [
            self.event(
                point.step,
                "warning",
                point.tag,
                f"loss {still(state)}oscillates without converging over steps {first_step}\u2013{point.step}: "
                f"it swings between {fmt(low)} and {fmt(high)} {every} (typical swing "
                f"{fmt(100 * relative_swing)}%, repeating to within {fmt(100 * repeat)}% of it), "
                f"and its level fell only {fmt(max(0.0, 100 * fell))}% over the window",
                HINT,
                period=period,
                repeat=repeat,
                swing=relative_swing,
                low=low,
                high=high,
            )
        ]


def _mean_change(xs, lag):
    """Mean absolute change of `xs` over `lag` values."""
    return sum(map(abs, map(operator.sub, xs[lag:], xs))) / (len(xs) - lag)


def _rhythm(resid, max_period, repeats):
    """(period, repeat ratio, lag of the largest change within it, that change) of the clearest rhythm.

    The repeat ratio is the change over the period divided by the largest change over any shorter
    lag: about 1 for noise and for trends, near 0 for a pattern that repeats. The period is the
    shortest lag repeating within `repeats` (multiples of it repeat too), else the best one.
    """
    best = (2, math.inf, 1, 0.0)
    largest, largest_lag = 0.0, 1
    for lag in range(1, min(max_period, len(resid) // 2) + 1):
        change = _mean_change(resid, lag)
        if lag > 1 and largest > 0 and change / largest < best[1]:
            best = (lag, change / largest, largest_lag, largest)
            if best[1] <= repeats:
                break
        if change > largest:
            largest, largest_lag = change, lag
    return best


def _decline(series, period):
    """How far the mean of `series` fell from its first to its last whole periods (0 = flat)."""
    span = max(1, len(series) // 2 // period) * period
    return (sum(series[:span]) - sum(series[-span:])) / span
