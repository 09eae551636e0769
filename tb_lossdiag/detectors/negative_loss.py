"""negative_loss: a loss below zero that cannot be, or whose values show why it is.

Four signatures, most certain first: a loss that is >= 0 by definition (its graph or its tag's
name says so) goes below zero; a loss whose graph holds such a loss function, scaled or summed
with other terms, stays below zero; a loss logged as a float is negative from its first values
and stays inside [-1, 0] (what nll_loss returns when fed probabilities); a loss runs below zero
toward minus infinity, whatever its type.
"""

import collections
import dataclasses
import math
import re
from typing import Deque, List

import numpy as np

from tb_lossdiag.detectors.curve import CurveDetector, fmt, still
from tb_lossdiag.robust import median

# Tag words naming a loss function whose value is >= 0 by definition.
_NONNEGATIVE_TAG = re.compile(
    r"(?<![a-z])(nll|cross[_\- ]?entropy|xent|ce|bce|mse|mae|l1|l2|smooth[_\- ]?l1|huber|"
    r"hinge|ctc|rmse)(?![a-z])",
    re.I,
)
# Tag words naming an objective that is negative by design (-dice, -cosine similarity, an ELBO...).
_NEGATIVE_BY_DESIGN_TAG = re.compile(
    r"(?<![a-z])(dice|iou|jaccard|cos|cosine|sim|similarity|elbo|reward|return|corr|correlation|"
    r"likelihood|ll|logprob|log[_\- ]?prob|score)(?![a-z])",
    re.I,
)
# What each loss function expects, said when it is the loss that went below zero.
EXPECTS = {
    "binary_cross_entropy": "predictions and targets in [0, 1]",
    "binary_cross_entropy_with_logits": "targets in [0, 1]",
    "nll_loss": "log-probabilities (log_softmax output) and class indices",
    "cross_entropy": "class indices in [0, C) or class probabilities in [0, 1] as targets",
    "soft_margin_loss": "targets of -1 or 1",
}

HINT_SOFTMAX = (
    "F.nll_loss expects log-probabilities but got nn.Softmax output (probabilities), so it returns "
    "-p: use nn.LogSoftmax(dim=1) as the last layer, or drop the softmax and use "
    "nn.CrossEntropyLoss on the raw logits."
)
HINT_NLL = (
    "F.nll_loss / nn.NLLLoss expect log-probabilities: end the model with nn.LogSoftmax(dim=1) "
    "(not nn.Softmax), or use nn.CrossEntropyLoss on the raw logits."
)
HINT_BCE = (
    "BCE needs predictions in [0, 1] and targets in [0, 1]: normalize the targets (e.g. "
    "(x - min) / (max - min); masks read as 0/255 divided by 255), or use nn.BCEWithLogitsLoss "
    "on raw logits."
)
HINT_GENERIC = (
    "A loss of this kind is >= 0 by definition: check what feeds it. For nll_loss use "
    "nn.LogSoftmax(dim=1) outputs (or nn.CrossEntropyLoss on raw logits, not softmax "
    "probabilities); normalize inputs and targets into the range the loss expects "
    "((x - min) / (max - min)); and make sure no term is subtracted from it."
)
HINT_PROBABILITIES = (
    "If this is F.nll_loss / nn.NLLLoss, it likely gets probabilities (nn.Softmax or F.softmax "
    "output) where it expects log-probabilities: use nn.LogSoftmax(dim=1) (or F.log_softmax) "
    "instead, or drop the softmax and use nn.CrossEntropyLoss on the raw logits. If the loss is "
    "negative by design (e.g. -dice, -cosine similarity), name its tag so (\"loss/neg_dice\")."
)
HINT_UNBOUNDED = (
    "A loss falling without bound is broken whatever its type. Check that the targets are in the "
    "range the loss expects (BCE / BCEWithLogitsLoss need targets in [0, 1]: masks read as 0/255 "
    "must be divided by 255; NLLLoss needs log-probabilities, not raw scores), that the "
    "likelihood is bounded (a predicted variance or scale must not shrink to 0 unchecked), and "
    "that no term has the wrong sign (a quantity to maximize being minimized)."
)


class NegativeLoss(CurveDetector):
    """Fires when a loss goes below zero where it cannot, looks like nll_loss on probabilities
    (then also naming that likely cause as an nll_on_probabilities event), or falls without bound."""

    id = "negative_loss"
    validation = True  # a validation loss below zero is as broken as a training one

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        tolerance: float = 1e-6  # values down to -tolerance are float rounding, not a bug
        reminders: int = 2  # further reports while the loss stays negative
        first_points: int = 5  # nll on probabilities: the first values, each negative and within [-1, 0]
        fall_points: int = 30  # unbounded fall: the last values judged, as three thirds...
        fall_ratio: float = 10.0  # ...whose last third reaches this many times the loss's starting size...
        fall_of_level: float = 0.2  # ...having fallen this fraction of its level over the two thirds before...
        keep_pace: float = 0.7  # ...its last third falling at least this fraction of its fastest fall so far
        every: int = 5  # values between unbounded-fall analyses (made only while the loss is negative)

    def __init__(self, **overrides):
        super().__init__(**overrides)
        # Whether a logged loss graph of this run named nll_loss: then the graph checks judge what feeds
        # it (nll_on_probabilities, certain), and a float copy of that loss (Lightning's self.log) is no
        # second, likely finding.
        self._graph_nll = False

    def new_state(self):
        return _SignState(self.thresholds.fall_points)

    def judge(self, point, state):
        if not math.isfinite(point.value):
            return ()
        t = self.thresholds
        state.add(point.value, t.first_points)
        if state.named is None:
            state.named = bool(_NONNEGATIVE_TAG.search(point.tag))  # once per tag: a regex per value costs
        if state.named or point.graph is not None and point.graph.nonnegative:
            return self._below_definition(point)
        events = []
        self._graph_nll = self._graph_nll or point.graph is not None and point.graph.loss_fn == "nll_loss"
        if point.graph is not None and point.graph.loss_fn:
            events.extend(self._holds_loss_function(point, state))
        if state.count == t.first_points and not self._graph_nll and _probabilities_signature(point, state, t):
            events.extend(self._probabilities(point, state))
        if point.value < -t.tolerance or self.episodes.active((point.tag, "fall")):
            events.extend(self._falling(point, state))
        return events

    def calm(self, tag, state):
        # Replayed values carry no graph: past its first values a loss that is in no episode
        # changes only by its bookkeeping until a value goes below zero.
        return (state.named is not None and state.count >= self.thresholds.first_points
                and not self.episodes.active((tag, "fall")) and not self.episodes.active(tag))

    def marks(self, state, steps, values):
        return np.flatnonzero(values < -self.thresholds.tolerance)

    def _below_definition(self, point):
        """The error for a loss that is >= 0 by definition, at its first negative value (and reminders)."""
        state = self.episodes.update(point.tag, point.value < -self.thresholds.tolerance, point.step)
        if state is None:
            return ()
        return [
            self.event(
                point.step,
                "error",
                point.tag,
                f"{_loss_name(point.graph)} is {still(state)}negative ({fmt(point.value)}) at step "
                f"{point.step}, but it cannot be below 0 by definition{_expects(point.graph)}",
                _hint(point.graph, point.tag),
                value=point.value,
            )
        ]

    def _holds_loss_function(self, point, state):
        """The warning for a loss below zero for `first_points` values whose graph holds a loss
        function that is >= 0 (the sum or scaling around it leaves the sign open)."""
        t = self.thresholds
        key = (point.tag, "holds")
        recent = list(state.recent)[-t.first_points:]
        below = len(recent) == t.first_points and all(v < -t.tolerance for v in recent)
        onset = self.episodes.update(key, below or self.episodes.active(key) and point.value < 0, point.step)
        if onset is None:
            return ()
        loss_fn = point.graph.loss_fn
        return [
            self.event(
                point.step,
                "warning",
                point.tag,
                f"loss is {still(onset)}below zero ({fmt(point.value)} at step {point.step}; "
                f"{t.first_points} values in a row), though its graph holds {loss_fn}, which is >= 0 "
                f"for valid inputs{_expects(point.graph)}: likely that term is fed out-of-range "
                "targets, or a term is subtracted",
                _hint(point.graph, point.tag),
                value=point.value,
            )
        ]

    def _probabilities(self, point, state):
        """A float loss negative from its first values and within [-1, 0]: the negative loss (what
        the curve shows), and nll_loss fed probabilities, its likely cause (what it means)."""
        low, high = min(state.first), max(state.first)
        span = f"{fmt(high)} to {fmt(low)} over its first {len(state.first)} values"
        return [
            self.event(
                point.step, "warning", point.tag,
                f"loss is negative from its first value and stays within [-1, 0] ({span})",
                HINT_PROBABILITIES, value=point.value, first_max=high, first_min=low,
            ),
            self.event(
                point.step, "warning", point.tag,
                f"likely nll_loss fed probabilities (softmax output) instead of log-probabilities: it "
                f"returns -p[target], in [-1, 0], as this loss does from its first value ({span})",
                HINT_PROBABILITIES, kind="nll_on_probabilities", value=point.value, first_max=high, first_min=low,
            ),
        ]

    def _falling(self, point, state):
        """The error for a loss running below zero toward minus infinity (onset and reminders)."""
        t = self.thresholds
        key = (point.tag, "fall")
        values = state.recent
        third = len(values) // 3
        if not (state.count % t.every == 0 and third * 3 >= t.fall_points):
            return ()
        values = list(values)
        a, b, c = (median(values[i * third:(i + 1) * third]) for i in range(3))
        # A loss converging to a negative floor (an ELBO, a Gaussian likelihood) slows down from its
        # fastest fall; one running to minus infinity keeps its pace or speeds up.
        state.fastest = max(state.fastest, a - b, b - c)
        scale = state.scale(t.tolerance)
        if self.episodes.active(key):
            falling = c < b < a  # hysteresis: the episode lasts while it goes on falling
        else:
            falling = (
                c < -t.tolerance
                and -c >= t.fall_ratio * scale
                and a - c >= t.fall_of_level * abs(c)
                and c < b < a
                and b - c >= t.keep_pace * state.fastest
            )
        onset = self.episodes.update(key, falling, point.step)
        if onset is None:
            return ()
        return [
            self.event(
                point.step,
                "error",
                point.tag,
                f"{_loss_name(point.graph)} {still(onset)}falls without bound: {fmt(c)} by step "
                f"{point.step}, {fmt(-c / scale)}x the size it started at ({fmt(state.first[0])} at first), "
                f"and not slowing down{_expects(point.graph)}",
                HINT_UNBOUNDED,
                value=point.value,
                level=c,
                first_scale=scale,
            )
        ]


class _SignState:
    """Per-tag state: the first values, the recent ones, how many were seen, the highest, the fastest fall."""

    def __init__(self, recent: int):
        self.first: List[float] = []
        self.recent: Deque[float] = collections.deque(maxlen=recent)
        self._kept = recent
        self.count = 0
        self.highest = 0.0  # the largest value seen (0 when none was positive)
        self.fastest = 0.0  # largest fall between the medians of two adjacent thirds, at any analysis
        # Whether the tag names a loss function that is >= 0 by definition (a scaled or summed
        # graph leaves the sign open; the tag may still name the loss). None until the first value.
        self.named = None

    def add(self, value: float, first_points: int) -> None:
        """Record one finite value."""
        self.count += 1
        if len(self.first) < first_points:
            self.first.append(value)
        self.recent.append(value)
        if value > self.highest:
            self.highest = value

    def extend(self, steps, values) -> None:
        """add() of each of these finite values, once the first values are all in."""
        self.count += len(values)
        self.recent.extend(values[-self._kept:].tolist())
        self.highest = max(self.highest, float(values.max()))

    def scale(self, tolerance: float) -> float:
        """The size the loss started at: its first value's, or its largest positive value's if larger."""
        return max(abs(self.first[0]), self.highest, tolerance)


def _probabilities_signature(point, state, t) -> bool:
    """A float loss whose first values are all negative and within [-1, 0], and nothing rules nll_loss out.

    With a graph the loss function is known (the graph checks judge it); a tag naming an objective
    that is negative by design rules nll_loss out.
    """
    if point.graph is not None or _NEGATIVE_BY_DESIGN_TAG.search(point.tag):
        return False
    return all(-1.0 - t.tolerance <= v < -t.tolerance for v in state.first)


def _loss_name(graph) -> str:
    """"binary_cross_entropy loss" when the graph names the loss function, else "loss"."""
    loss_fn = graph.loss_fn if graph is not None else None
    return f"{loss_fn} loss" if loss_fn else "loss"


def _expects(graph) -> str:
    """"; binary_cross_entropy expects targets in [0, 1]" when the graph names a loss of EXPECTS."""
    loss_fn = graph.loss_fn if graph is not None else None
    return f"; {loss_fn} expects {EXPECTS[loss_fn]}" if loss_fn in EXPECTS else ""


def _hint(graph, tag: str) -> str:
    """The fix for the most likely cause, as precise as the graph allows."""
    loss_fn = graph.loss_fn if graph is not None else None
    if loss_fn == "nll_loss" and graph.input_op == "SoftmaxBackward0":
        return HINT_SOFTMAX
    if loss_fn == "nll_loss" or (loss_fn is None and re.search(r"nll", tag, re.I)):
        return HINT_NLL
    if loss_fn and loss_fn.startswith("binary_cross_entropy"):
        return HINT_BCE
    return HINT_GENERIC
