"""loss_plateau: the loss makes no progress over a long window while still near its initial level."""

import dataclasses
import math

import numpy as np

from tb_lossdiag.detectors.curve import CurveDetector, Episodes, Trace, fmt, still
from tb_lossdiag.detectors.vanishing_gradient import VanishingGradient, starved
from tb_lossdiag.robust import median, rank_trend, row_medians

HINT = (
    "The learning rate is likely too low, or nothing is being learned: raise the learning rate "
    "(e.g. 10x, or find it with an LR range test), check that optimizer.step() and "
    "optimizer.zero_grad() are called every step, that the optimizer got model.parameters() "
    "(and they require grad), and that the labels match the inputs."
)
HINT_CONSTANT = (
    "A loss that does not change at all means no update reaches what computes it: check that "
    "optimizer.step() is called, that the optimizer got model.parameters() (and they require "
    "grad), that the learning rate is not 0, that the loss is computed from the model's output "
    "(not a detached copy or a constant), and that the batches change."
)
HINT_SLOW = (
    "Nothing to fix yet: the loss is coming down, slowly. If it stays this slow, raise the learning "
    "rate (e.g. 3-10x) or add a warmup to a higher one."
)
HINT_UNMEASURED = (
    "A slow start, or stuck: the logged loss alone cannot tell. If it stays flat, raise the "
    "learning rate (e.g. 10x) and check that optimizer.step() and zero_grad() are called every "
    "step; writer.watch(model, optimizer), or logging the loss tensor instead of loss.item(), "
    "lets tb_lossdiag measure whether the weights learn."
)
HINT_ENDED = "Nothing to fix: the loss came down from the plateau."


class LossPlateau(CurveDetector):
    """Fires when a long window brings no meaningful improvement and the loss is barely below its start.

    A loss that converged to a floor is not a plateau: it made progress first. Only a loss that
    has not come meaningfully down from its initial level (max_progress) counts. Such a stretch
    is a warning when the run is stuck (no trend at all, a loss that does not change by a single
    bit, or a slow fall while the first layer gets a vanished gradient at the last sampled step);
    one that is falling, however slowly, with the gradient reaching the weights, is a slow start
    (info). A flat loss with no model
    statistics beside it (a float logged, nothing watched) is info: a healthy slow start (the
    CIFAR-10 tutorial's ~900 flat steps) and a stuck run give the same curve, and only the weights'
    gradients and updates tell them apart. A plateau the loss leaves downward is reported as ended.
    """

    id = "loss_plateau"
    ends = True

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        window: int = 100  # logged values a plateau must last
        min_improvement: float = 0.01  # relative drop of the level over the window that counts as progress
        max_progress: float = 0.1  # a loss down more than this fraction from its start is not stuck
        confirm: int = 20  # values the condition must hold on before it is reported (a slow start passes)
        trend_z: float = 2.0  # a window falling at this many standard errors (rank trend) is a slow start
        trend_blocks: int = 12  # ...and a slow start is found stuck when this many block levels show no trend
        constant_points: int = 20  # a loss exactly constant this many values near its start cannot move
        every: int = 10  # values between analyses (each sorts two quarters of the window)
        reminders: int = 2

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._measured = False  # whether the model's gradients were seen (watch() or the swap-only probes)
        self._starved = False  # whether the last sampled step's first layer got a vanished gradient

    def new_state(self):
        return _PlateauState(Trace(recent=self.thresholds.window))

    def on_step(self, stats):
        if stats.grad_norm is not None:
            self._measured = True
        if stats.sampled and stats.layers:
            self._starved = starved(stats)
        return ()

    def new_episodes(self):
        t = self.thresholds
        return Episodes(reminders=t.reminders, first_gap=max(100, t.window), ends=self.ends)

    def calm(self, tag, state):
        return not self.episodes.active(tag)

    def marks(self, state, steps, values):
        # Out of an episode a value matters only if the loss may be constant there, or it is due an
        # analysis that may find the loss near its start (the level of the window's last quarter
        # within max_progress of it, noise aside: noise only widens the margin).
        t = self.thresholds
        trace = state.trace
        if not trace.mature:
            return None
        marked = _same(state, values) >= t.constant_points
        if trace.start:
            ends = np.flatnonzero((trace.count + np.arange(1, len(values) + 1)) % t.every == 0)
            quarter = max(1, t.window // 4)
            history = np.concatenate([trace.values(quarter - 1), values])
            new = row_medians(np.lib.stride_tricks.sliding_window_view(history, quarter)[ends])
            marked[ends[~((trace.start - new) / abs(trace.start) >= t.max_progress)]] = True
        return np.flatnonzero(marked)

    def absorb(self, tag, state, steps, values):
        t = self.thresholds
        if state.trace.start and (state.trace.count + len(values)) // t.every > state.trace.count // t.every:
            state.since = None  # an analysis found the loss far below its start
        state.same, state.last = int(_same(state, values)[-1]), float(values[-1])
        state.trace.extend(steps, values)

    def judge(self, point, state):
        t = self.thresholds
        trace = state.trace
        if not trace.add(point.step, point.value):
            return ()
        state.same = state.same + 1 if point.value == state.last else 1
        state.last = point.value
        constant = (
            state.same >= t.constant_points
            and point.value != 0
            and abs(point.value - trace.start) <= t.max_progress * abs(trace.start)  # near its start
        )
        if constant and not self.episodes.active(point.tag):
            first_step = trace.recent[-t.constant_points][0]
            if self.episodes.update(point.tag, True, point.step, start=first_step) is None:
                return ()
            return self._constant(point, state, first_step)
        if len(trace.recent) < t.window:
            # Before a window is full only a loss found constant is on a plateau: it ends when the
            # loss moves down from it.
            if constant or not self.episodes.active(point.tag) or not trace.due(t.every):
                return ()
            level = trace.level(t.constant_points)
            left = state.level - level > t.max_progress * abs(state.level)
            return [self._ended(point, state, level)] if left and self.episodes.update(
                point.tag, False, point.step) == "ended" else ()
        if not trace.start or not trace.due(t.every):
            return ()
        values = trace.values()
        quarter = max(1, t.window // 4)
        old, new = median(values[:quarter]), median(values[-quarter:])
        scale = abs(trace.start)
        improvement = (old - new) / abs(old) if old else 0.0
        progress = (trace.start - new) / scale
        # Progress is judged on noisy medians: count as stuck only when even the upper end of its
        # uncertainty is small, so a noisy curve early in a slow warmup is given time.
        log_sigma = trace.log_noise()
        rel_sigma = log_sigma if log_sigma is not None else trace.noise() / scale
        uncertainty = 2 * 1.25 * rel_sigma * math.sqrt(1.0 / quarter + 1.0 / trace.start_points)
        near_start = progress + uncertainty < t.max_progress
        # Likewise a change within noise of zero is none: the window's two quarter medians each
        # carry noise.
        band = t.min_improvement + 2 * 1.25 * rel_sigma * math.sqrt(2.0 / quarter)
        # A level clearly climbing is no plateau (loss_divergence judges it), episode or not.
        climbing = improvement < -band
        if self.episodes.active(point.tag):
            # Hysteresis: the episode lasts until the loss falls far below the plateau (or climbs
            # away from it), so a level hovering at a threshold stays one episode.
            fell = state.level - new >= t.max_progress * abs(state.level) or progress >= t.max_progress
            active = not climbing and not fell
        else:
            stuck = not climbing and improvement < band and near_start
            # A clean curve that only looks stuck through noise or a slow warmup moves on within
            # `confirm` values; a stuck one does not.
            if not stuck:
                state.since = None
            elif state.since is None:
                state.since = trace.count
            active = stuck and trace.count - state.since >= t.confirm
        first_step = trace.recent[0][0]
        onset = self.episodes.update(point.tag, active, point.step, start=first_step)
        if onset == "ended":
            return [self._ended(point, state, new)]
        if not active or state.severity == "warning" and onset is None:
            return ()
        # Stuck, or a slow start? Only a stretch with no downward trend at all is stuck: at the
        # onset, the window; a slow start later, the block levels of the whole stretch so far (one
        # noisy window must not turn a slow but steady fall into a warning).
        if onset == "onset":
            state.begun = trace.count - len(values)
            falling = rank_trend(values) <= -t.trend_z
        elif state.severity == "info":
            blocks = [level for level, _, _ in trace.blocks][-((trace.count - state.begun) // trace.block):]
            # Too few block levels to show a trend yet, or no model statistics: the note stands.
            falling = not self._measured or len(blocks) < t.trend_blocks or rank_trend(blocks) <= -t.trend_z
        else:
            falling = False
        slow = falling and not self._starved  # falling, with the gradient reaching the first layer
        if onset is None and (state.severity == "warning" or slow):
            return ()  # nothing new: a reminder is not due, a slow start is said once
        if slow or not self._measured:
            state.severity = "info"
            if onset == "reminder":
                return ()
            span = f"over steps {first_step}\u2013{point.step} the loss "
            if slow:
                message = (
                    f"slow start: {span}fell only from {fmt(old)} to {fmt(new)} ({_change(improvement)}), "
                    f"within {fmt(abs(100 * progress))}% of its initial {fmt(trace.start)}, but it is falling"
                )
                hint = HINT_SLOW
            else:
                message = (
                    f"flat start: {span}went from {fmt(old)} to {fmt(new)} ({_change(improvement)}), still "
                    f"within {fmt(abs(100 * progress))}% of its initial {fmt(trace.start)}; with no model "
                    "statistics, a slow start and a stuck run look the same"
                )
                hint = HINT_UNMEASURED
            severity = "info"
        else:
            # An onset, a reminder, or a slow start found stuck after all.
            again = still(onset) if state.severity == "warning" else ""
            state.severity = "warning"
            why = ("falling only slowly while the first layer gets almost no gradient" if falling
                   else "with no downward trend")
            message = (
                f"loss has {again}not improved over steps {first_step}\u2013{point.step}, {why}: its "
                f"level went from {fmt(old)} to {fmt(new)} ({_change(improvement)}) "
                f"and is still within {fmt(abs(100 * progress))}% of its initial {fmt(trace.start)}"
            )
            severity, hint = "warning", VanishingGradient.hint if falling else HINT
        state.level = new
        return [
            self.event(
                point.step,
                severity,
                point.tag,
                message,
                hint,
                level=new,
                window_start_level=old,
                initial_level=trace.start,
                improvement=improvement,
            )
        ]

    def _constant(self, point, state, first_step):
        """The warning for a loss that has not changed by a single bit near its start."""
        state.severity, state.level = "warning", point.value
        return [
            self.event(
                point.step,
                "warning",
                point.tag,
                f"loss has not changed at all over steps {first_step}\u2013{point.step}: it is "
                f"exactly {fmt(point.value)} for {state.same} values in a row, so nothing is learning",
                HINT_CONSTANT,
                level=point.value,
                window_start_level=point.value,
                initial_level=state.trace.start,
                improvement=0.0,
            )
        ]

    def _ended(self, point, state, level):
        """The info event closing a reported plateau the loss has left."""
        start = self.episodes.start(point.tag)
        state.severity = None
        return self.ended(
            point,
            start,
            "loss_plateau",
            f"the loss left its plateau at {fmt(state.level)} and is now {fmt(level)}",
            HINT_ENDED,
        )


class _PlateauState:
    """Per-tag state: the trace, the run of identical values, the pending and the reported plateau."""

    def __init__(self, trace: Trace):
        self.trace = trace
        self.last = None  # the previous value
        self.same = 0  # how many values in a row equal the last one
        self.since = None  # value count at which the plateau condition began to hold
        self.severity = None  # severity of the episode reported now ("info": a slow start)
        self.level = None  # the plateau's level when last reported
        self.begun = 0  # value count at which the reported plateau's first window began


def _same(state: "_PlateauState", values: np.ndarray) -> np.ndarray:
    """`state.same` after each of these finite values: how many values in a row equal it."""
    index = np.arange(len(values))
    changed = np.ones(len(values), dtype=bool)
    changed[0] = values[0] != state.last
    changed[1:] = values[1:] != values[:-1]
    last_change = np.maximum.accumulate(np.where(changed, index, -1))
    return np.where(last_change >= 0, index - last_change + 1, state.same + index + 1)


def _change(improvement: float) -> str:
    """A relative change of level as a user reads it: "1.2% lower" or "0.5% higher"."""
    return f"{fmt(abs(100 * improvement))}% {'lower' if improvement >= 0 else 'higher'}"
