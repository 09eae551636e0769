"""What the model detectors share: one-shot graph checks, operand checks, streaks, name lists."""

import collections
import math
from typing import Deque, Dict, Optional, Sequence, Tuple

from tb_lossdiag.detectors.base import Detector, Onsets


def name_list(names: Sequence[str], limit: int = 3) -> str:
    """'a, b, c and 4 more': parameter or module names for a message."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def broken(stats) -> bool:
    """Whether NaN/Inf already shows in a step's inputs, gradients or activations: statistics of
    scale (dead units, saturation, gradient growth) mean nothing then, the non-finite kinds speak."""
    norm = stats.grad_norm  # non-finite exactly when one of the norms is
    return (
        any(inp.nonfinite for inp in stats.inputs)
        or norm is not None and not math.isfinite(norm)
        or not all(a.finite for a in stats.activations)
    )


def through(graph) -> str:
    """' (through ViewBackward0, TransposeBackward0)': the ops a graph check looked through, for a message."""
    return f" (through {', '.join(graph.input_through)})" if graph.input_through else ""


class RunUp:
    """Whether a loss's finite values ran up by orders of magnitude before it went non-finite: then
    the NaN/Inf is an overflow, which no single op's operand explains (the curve names the cause)."""

    factor = 1e6  # the largest of its last values against its first value
    last_points = 3  # the last values: an overflow's last finite value may already be garbage (0)

    def __init__(self):
        # Per loss tag (a run logs a handful): its first and its latest finite |values|.
        self._first: Dict[str, float] = {}
        self._last: Dict[str, Deque[float]] = {}

    def add(self, point) -> None:
        """Record one value of a loss curve (non-finite ones are not levels)."""
        if not math.isfinite(point.value):
            return
        self._first.setdefault(point.tag, abs(point.value))
        self._last.setdefault(point.tag, collections.deque(maxlen=self.last_points)).append(abs(point.value))

    def ran_up(self, tag: str) -> bool:
        """Whether one of `tag`'s latest finite values sits `factor` times above its first one."""
        if tag not in self._first:
            return False
        return max(self._last[tag]) >= self.factor * max(self._first[tag], 1e-12)


class Streak:
    """How many observations in a row a condition has held, per key."""

    def __init__(self):
        self._runs: Dict[object, int] = {}

    def update(self, key, active: bool) -> int:
        """The run length of `key` after this observation (0 when inactive)."""
        self._runs[key] = self._runs.get(key, 0) + 1 if active else 0
        return self._runs[key]


class ModelDetector(Detector):
    """A model detector: reports each condition once at its onset (no reminders)."""

    category = "model"
    max_onsets = 3  # onsets reported per condition (Onsets)

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._onsets = Onsets(reminders=0, max_onsets=self.max_onsets)
        self._streak = Streak()  # for held_onset

    def on_losses(self, tag, steps, values, validation):
        """A replayed curve (scan) carries no loss graph, and a model detector judges a logged loss
        only by its graph (tested): nothing to do for any of its values."""
        return []

    def onset(self, key, active: bool, step: int) -> bool:
        """True exactly when condition `key` starts at `step`."""
        return self._onsets.update(key, active, step) == "onset"

    def held_onset(self, key, active: bool, step: int) -> int:
        """The run length when `key` has now held `thresholds.patience` observations in a row and
        that starts the condition at `step`; 0 otherwise."""
        run = self._streak.update(key, active)
        return run if self.onset(key, run >= self.thresholds.patience, step) else 0


class GraphCheck(ModelDetector):
    """Misuse read from a training loss's autograd graph: caught at the first logged step."""

    severity = "error"
    hint = ""
    deferrable = True  # a new graph goes through the Diagnoser at once

    def check(self, graph, point) -> Optional[Tuple[str, dict]]:
        """(message, evidence) when `graph` shows the misuse."""
        raise NotImplementedError

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._checked = {}  # tag -> the LossGraph last checked

    def on_loss(self, point):
        if point.graph is None or point.is_validation:
            return ()
        # The writer hands on the same LossGraph object for as long as the loss's root op stays
        # the same, and whether the misuse shows depends on the graph alone: nothing new to see.
        if self._checked.get(point.tag) is point.graph:
            return ()
        self._checked[point.tag] = point.graph
        found = self.check(point.graph, point)
        if not self.onset(point.tag, found is not None, point.step):
            return ()
        message, evidence = found
        return [self.event(point.step, self.severity, point.tag, message, self.hint, **evidence)]


class OperandCheck(ModelDetector):
    """An op whose operand breaks it (a division by ~0, a log of <= 0): from the measured
    operands (watch(), when they can be read) or from a non-finite loss whose graph holds the op."""

    op = ""  # "div" or "log", as in OperandStats.op
    graph_flag = ""  # the LossGraph field saying the loss holds the op
    op_words = ""  # the op in words, e.g. "a division by a tensor"
    max_onsets = 1  # once weights are NaN every later loss is too: only the first onset is news
    hint = ""
    deferrable = True  # a non-finite value goes through the Diagnoser at once

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._run_up = RunUp()

    def is_bad(self, operand) -> bool:
        """Whether a measured operand breaks the op."""
        raise NotImplementedError

    def describe(self, operand) -> str:
        """The measured evidence, in words."""
        raise NotImplementedError

    def on_step(self, stats):
        found = [o for o in stats.operands if o.op == self.op]
        if not found:
            return ()
        bad = [o for o in found if self.is_bad(o)]
        if not self.onset(self.op, bool(bad), stats.step):
            return ()
        worst = bad[0]
        return [self.event(
            stats.step, "error", f"{worst.where} graph",
            f"{self.describe(worst)} at step {stats.step} ({worst.node} in the {worst.where})",
            self.hint, minimum=worst.minimum, bad_values=worst.bad, values=worst.numel,
        )]

    def on_loss(self, point):
        if point.graph is None or point.is_validation or not getattr(point.graph, self.graph_flag):
            return ()
        broken = not math.isfinite(point.value) and not self._run_up.ran_up(point.tag)
        self._run_up.add(point)
        if not self.onset(self.op, broken, point.step):
            return ()
        return [self.event(
            point.step, "error", point.tag,
            f"the loss is {point.value} at step {point.step} and its graph holds {self.op_words}",
            self.hint, value=point.value,
        )]
