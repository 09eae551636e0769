"""loss_divergence: the loss grows steadily or explodes instead of going down."""

import dataclasses
import math

from typing import Optional, Tuple

import numpy as np

from tb_lossdiag.detectors.curve import CurveDetector, Trace, fmt, still
from tb_lossdiag.robust import diff_sigma, log_noise

HINT = (
    "The learning rate is likely too high: lower it (e.g. 10x), add a warmup or a scheduler "
    "(torch.optim.lr_scheduler), and clip gradients "
    "(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)); check the data if it began "
    "with one bad batch."
)


class LossDivergence(CurveDetector):
    """Fires when the smoothed loss rises far above the best level it reached, beyond its noise."""

    id = "loss_divergence"

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        level_points: int = 16  # the current level is the median of this many last values
        rise_ratio: float = 2.0  # current level / best level that counts as a rise
        explode_ratio: float = 10.0  # ... and that counts as an explosion (error)
        runaway_points: int = 3  # values each >= 2x the last, 100x the level and 10x any before
        noise_z: float = 4.0  # a rise must also exceed this many point-noise sigmas (log space)
        scale_fraction: float = 0.05  # ... and this fraction of the progress made (start - best)
        min_span: int = 8  # ... and come at least this many values after the best level
        hold: int = 6  # values a rise must last with its short level not falling (a bad batch's aftermath recovers)
        noise_points: int = 40  # recent values (before the current level's) that measure the noise
        release_ratio: float = 1.3  # the condition ends when the level falls below this x best
        every: int = 8  # values between full analyses (a value above rise_ratio x best triggers one)
        reminders: int = 2

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._severity = {}  # tag -> severity reported for the current onset

    def new_state(self):
        t = self.thresholds
        return _DivergenceState(Trace(recent=t.noise_points + t.level_points))

    def calm(self, tag, state):
        best = state.trace.best
        return state.rising_since is None and not self.episodes.active(tag) and best is not None and best[0] > 0

    def marks(self, state, steps, values):
        # Out of an episode, with no rise pending, a value matters only if it may be a runaway (at
        # least explode_ratio x the peak, which only grows) or end a rise: a level of at least
        # rise_ratio x the best level, so at least half of the shorter median's values that high.
        t = self.thresholds
        trace = state.trace
        if not trace.mature:
            return None
        short = max(1, t.level_points // 2)
        history = np.concatenate([trace.values(short - 1), values]) if short > 1 else values
        high = np.lib.stride_tricks.sliding_window_view(history, short) >= (t.rise_ratio * trace.bests(values))[:, None]
        rise = high.sum(axis=1) >= short - short // 2
        return np.flatnonzero(rise | (values >= t.explode_ratio * state.peak))

    def absorb(self, tag, state, steps, values):
        n = self.thresholds.runaway_points
        passed = np.concatenate([state.trace.values(n), values])[:-n]  # values now older than the last n
        state.peak = max(state.peak, float(passed.max()))
        state.trace.extend(steps, values)

    def judge(self, point, state):
        t = self.thresholds
        trace = state.trace
        previous = trace.recent[-1][1] if trace.recent else None
        if not trace.add(point.step, point.value):
            return ()
        runaway = state.runaway(trace, t, previous)
        best = trace.best
        # A full analysis every few values; at once when a value tops the rise threshold or a rise
        # is being confirmed, so the cadence adds no delay to a sudden rise.
        due = (
            trace.due(t.every)
            or state.rising_since is not None
            or (best is not None and point.value > t.rise_ratio * best[0])
        )
        if not runaway and (not due or trace.count < 8 or best is None):
            return ()  # too few values for a level; only a runaway explosion is clear this early
        best, best_step, best_count = best or (trace.first[1], trace.first[0], 1)
        # The shorter median keeps a fast initial descent (still inside the longer one) from
        # reading as a rise above the level it just reached.
        short = trace.level(max(1, t.level_points // 2))
        level = min(trace.level(t.level_points), short)
        if runaway:
            level = max(level, point.value)
        rise = trace.count - best_count >= t.min_span and self._rise(trace, level, best)
        rising = runaway or state.held(rise, trace.count, short, t.hold)
        # Hysteresis: once diverging, a level bouncing around the threshold is one episode.
        active = rising or (self.episodes.active(point.tag) and level > t.release_ratio * best)
        onset = self.episodes.update(point.tag, active, point.step)
        if not active:
            self._severity.pop(point.tag, None)
            return ()
        # Near zero any wobble is a large ratio: an explosion also tops the untrained loss.
        exploded = runaway or (best > 0 and level >= t.explode_ratio * best and level >= trace.initial())
        severity = "error" if exploded else "warning"
        escalated = onset is None and severity == "error" and self._severity.get(point.tag) == "warning"
        if onset is None and not escalated:
            return ()
        if onset == "onset" or escalated:
            self._severity[point.tag] = severity
        how = "exploded" if exploded else "rose"
        if trace.first[1] < best:
            # It never got below its first value (blown up from the start): say where it began.
            best_step, best = trace.first
        message = (
            f"loss {still(onset)}{how} from {fmt(best)} to {fmt(level)} over steps "
            f"{best_step}\u2013{point.step}"
        )
        if best > 0:
            message += f" ({fmt(level / best)}x)"
        return [
            self.event(
                point.step,
                severity,
                point.tag,
                message,
                HINT,
                best_level=best,
                best_step=best_step,
                level=level,
            )
        ]

    def _rise(self, trace: Trace, level: float, best: float) -> bool:
        """The current level is far above the best level, beyond noise and beyond float dust."""
        t = self.thresholds
        rise = level - best
        if rise <= 0:
            return False
        start, initial = trace.start, trace.initial()
        if start is None or initial is None:
            return False  # no level to compare with yet
        progress = max(0.0, max(start, initial) - best)
        if rise < t.scale_fraction * progress:
            # e.g. a loss converged to 1e-4, knocked to 0.1 by a bad batch: huge in ratio, small
            # next to what was learned (and it recovers).
            return False
        # The noise is that of the recent values just before the current level (so a jump does not
        # hide itself), or of the recent blocks if larger (so a calm stretch does not hide noise).
        before = trace.values()[: -t.level_points]
        log_sigma = trace.log_noise()
        if best > 0 and log_sigma is not None and len(before) >= 8:
            log_sigma = max(log_sigma, log_noise(before) or 0.0)
        if best > 0 and log_sigma is not None:
            # In log space a ratio is a distance, and minibatch noise is about the same size at
            # every level of the curve.
            return math.log(level / best) >= max(math.log(t.rise_ratio), t.noise_z * log_sigma)
        # A loss that may be negative: compare with its own scale and its noise instead.
        scale = max(abs(best), abs(trace.start or 0.0))
        sigma = max(trace.noise(), diff_sigma(before))
        return rise >= (t.rise_ratio - 1.0) * scale and rise > t.noise_z * sigma


class _DivergenceState:
    """Per-tag state: the curve, the largest value logged before the latest few, a pending rise."""

    def __init__(self, trace: Trace):
        self.trace = trace
        self.peak = -math.inf  # max of every value older than the last runaway_points
        self.rising_since: Optional[Tuple[int, float]] = None  # (count, short level) where the current unreported rise began

    def held(self, rise: bool, count: int, short: float, hold: int) -> bool:
        """Whether a rise has lasted `hold` values without its short level falling back."""
        if not rise:
            self.rising_since = None
            return False
        if self.rising_since is None or short < self.rising_since[1]:
            self.rising_since = (count, short)  # a level falling back is recovering: start over
        return count - self.rising_since[0] >= hold

    def runaway(self, trace: Trace, t, previous) -> bool:
        """The last values at least double each step, end 100x above the level and 10x above any before.

        Such a runaway reaches inf within a few steps: waiting for a median would miss it. Heavy
        minibatch noise near zero also doubles a few times in a row, but never tops the peak of
        the curve (its first, untrained values) tenfold.
        """
        n = t.runaway_points
        recent = trace.recent
        if len(recent) > n:
            self.peak = max(self.peak, recent[-n - 1][1])
        value = recent[-1][1]
        # O(1) triggers first: most values do not double, nor top the peak.
        if previous is None or value < 2.0 * previous or value < t.explode_ratio * self.peak:
            return False
        values = trace.values(n + 8)
        if len(values) < n + 1:
            return False
        run, before = values[-n:], values[:-n]
        ref = sorted(before)[len(before) // 2]
        return (
            ref > 0
            and all(b >= 2.0 * a > 0 for a, b in zip(run, run[1:]))
            and run[-1] >= t.explode_ratio ** 2 * ref
        )
