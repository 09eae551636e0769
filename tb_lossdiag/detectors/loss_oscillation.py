"""loss_oscillation: the loss swings up and down without converging (learning rate too high)."""

import dataclasses
import math

from tb_lossdiag.detectors.base import Detector
from tb_lossdiag.detectors.curve import Episodes, PerTag, Trace, autocorrelations, fmt, median, still

HINT = (
    "The learning rate is likely too high, so each step overshoots the minimum: lower it "
    "(e.g. 3-10x), use a scheduler that decays it (torch.optim.lr_scheduler.CosineAnnealingLR "
    "or ReduceLROnPlateau), lower the momentum, or clip gradients "
    "(torch.nn.utils.clip_grad_norm_)."
)


class LossOscillation(Detector):
    """Fires when the loss swings in a regular up-down rhythm, with a large amplitude, and stops improving.

    Minibatch noise is uncorrelated from one value to the next. An overshooting optimizer makes
    the loss swing back and forth: a zigzag (period 2) or a slower wave (momentum), which shows
    as a strongly negative autocorrelation at the half period.
    """

    id = "loss_oscillation"

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        window: int = 48  # logged values judged together
        max_lag: int = 8  # half periods looked at: periods of 2 to 16 values
        max_autocorrelation: float = -0.7  # at the half period (white noise: 0 +- 1/sqrt(window))
        min_swing: float = 0.1  # median relative change over a half period
        min_swing_of_start: float = 0.05  # ...and in absolute terms, this fraction of the initial loss
        min_improvement: float = 0.05  # a level falling this much within the window is converging
        reminders: int = 2

    def __init__(self, **overrides):
        super().__init__(**overrides)
        t = self.thresholds
        self._episodes = Episodes(reminders=t.reminders)
        self._traces = PerTag(lambda: Trace(recent=t.window))

    def on_loss(self, point):
        if point.is_validation:
            return ()  # validation noise and overfitting are not the optimizer's oscillation
        t = self.thresholds
        trace = self._traces.get(point.tag)
        if not trace.add(point.step, point.value) or len(trace.recent) < t.window:
            return ()
        values = trace.values()
        half = len(values) // 2
        # Means, not medians: the median of a zigzag jumps between its two levels.
        old, new = _level(values[:half]), _level(values[half:])
        converging = new < old - t.min_improvement * abs(old)
        lag, rho, swing, amplitude = _wave(values, t.max_lag)
        # Hysteresis: once oscillating, a weaker rhythm keeps it one episode.
        limit = t.max_autocorrelation / 2 if self._episodes.active(point.tag) else t.max_autocorrelation
        active = (
            not converging
            and rho <= limit
            and swing >= t.min_swing
            and amplitude >= t.min_swing_of_start * abs(trace.start or 0.0)
        )
        state = self._episodes.update(point.tag, active, point.step)
        if state is None:
            return ()
        first_step = trace.recent[0][0]
        rhythm = "every other value" if lag == 1 else f"with a period of about {2 * lag} values"
        return [
            self.event(
                point.step,
                "warning",
                point.tag,
                f"loss {still(state)}oscillates without converging over steps {first_step}\u2013{point.step}: "
                f"it swings between {fmt(min(values))} and {fmt(max(values))} {rhythm} "
                f"(autocorrelation {rho:.2f}, typical swing {fmt(100 * swing)}%), "
                f"level {fmt(old)} -> {fmt(new)}",
                HINT,
                autocorrelation=rho,
                period=2 * lag,
                swing=swing,
                low=min(values),
                high=max(values),
                level=new,
            )
        ]


def _wave(values, max_lag):
    """(half period, its autocorrelation, relative swing, absolute swing) of the strongest rhythm."""
    # Logs make multiplicative minibatch noise even across the curve's range.
    positive = min(values) > 0
    series = [math.log(v) for v in values] if positive else list(values)
    rhos = autocorrelations(series, max_lag)
    lag = min(range(1, max_lag + 1), key=lambda k: rhos[k - 1])
    change = median([abs(b - a) for a, b in zip(series, series[lag:])])
    amplitude = median([abs(b - a) for a, b in zip(values, values[lag:])])
    if positive:
        swing = math.expm1(change)
    else:
        swing = change / (median([abs(v) for v in values]) or 1.0)
    return lag, rhos[lag - 1], swing, amplitude


def _level(values):
    """Geometric mean of positive values (so one spike does not dominate), else the mean."""
    if min(values) > 0:
        return math.exp(sum(math.log(v) for v in values) / len(values))
    return sum(values) / len(values)
