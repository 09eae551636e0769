"""loss_plateau: the loss makes no progress over a long window while still near its initial level."""

import dataclasses
import math

from tb_lossdiag.detectors.curve import CurveDetector, Episodes, Trace, fmt, still
from tb_lossdiag.robust import median

HINT = (
    "The learning rate is likely too low, or nothing is being learned: raise the learning rate "
    "(e.g. 10x, or find it with an LR range test), check that optimizer.step() and "
    "optimizer.zero_grad() are called every step, that the optimizer got model.parameters() "
    "(and they require grad), and that the labels match the inputs."
)


class LossPlateau(CurveDetector):
    """Fires when a long window brings no meaningful improvement and the loss is barely below its start.

    A loss that converged to a floor is not a plateau: it made progress first. Only a loss that
    has not come meaningfully down from its initial level (max_progress) counts.
    """

    id = "loss_plateau"

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        window: int = 100  # logged values a plateau must last
        min_improvement: float = 0.01  # relative drop of the level over the window that counts as progress
        max_progress: float = 0.1  # a loss down more than this fraction from its start is not stuck
        confirm: int = 20  # values the condition must hold on before it is reported (a slow start passes)
        every: int = 10  # values between analyses (each sorts two quarters of the window)
        reminders: int = 2

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._since = {}  # tag -> value count at which the condition began to hold

    def new_state(self):
        return Trace(recent=self.thresholds.window)

    def new_episodes(self):
        t = self.thresholds
        return Episodes(reminders=t.reminders, first_gap=max(100, t.window))

    def judge(self, point, trace):
        t = self.thresholds
        added = trace.add(point.step, point.value)
        if not added or len(trace.recent) < t.window or not trace.start or not trace.due(t.every):
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
            # Hysteresis: a level hovering at the threshold stays one episode.
            active = not climbing and improvement < 2 * band and progress < t.max_progress
        else:
            stuck = not climbing and improvement < band and near_start
            # A clean curve that only looks stuck through noise or a slow warmup moves on within
            # `confirm` values; a stuck one does not.
            if not stuck:
                self._since.pop(point.tag, None)
            since = self._since.setdefault(point.tag, trace.count) if stuck else trace.count
            active = trace.count - since >= t.confirm
        state = self.episodes.update(point.tag, active, point.step)
        if state is None:
            return ()
        first_step = trace.recent[0][0]
        return [
            self.event(
                point.step,
                "warning",
                point.tag,
                f"loss has {still(state)}not improved over steps {first_step}\u2013{point.step}: "
                f"its level went from {fmt(old)} to {fmt(new)} ({_change(improvement)}) and "
                f"is still within {fmt(abs(100 * progress))}% of its initial {fmt(trace.start)}",
                HINT,
                level=new,
                window_start_level=old,
                initial_level=trace.start,
                improvement=improvement,
            )
        ]


def _change(improvement: float) -> str:
    """A relative change of level as a user reads it: "1.2% lower" or "0.5% higher"."""
    return f"{fmt(abs(100 * improvement))}% {'lower' if improvement >= 0 else 'higher'}"
