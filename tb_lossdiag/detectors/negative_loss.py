"""negative_loss: a loss that cannot be negative (NLL, cross-entropy, BCE, MSE, L1...) is negative."""

import dataclasses
import math
import re

from tb_lossdiag.detectors.base import Detector, Onsets
from tb_lossdiag.detectors.curve import fmt, still

# Tag words naming a loss function whose value is >= 0 by definition.
_NONNEGATIVE_TAG = re.compile(
    r"(?<![a-z])(nll|cross[_\- ]?entropy|xent|ce|bce|mse|mae|l1|l2|smooth[_\- ]?l1|huber|"
    r"hinge|ctc|rmse)(?![a-z])",
    re.I,
)

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
    "(x - min) / (max - min)), or use nn.BCEWithLogitsLoss on raw logits."
)
HINT_GENERIC = (
    "A loss of this kind is >= 0 by definition: check what feeds it. For nll_loss use "
    "nn.LogSoftmax(dim=1) outputs (or nn.CrossEntropyLoss on raw logits, not softmax "
    "probabilities); normalize inputs and targets into the range the loss expects "
    "((x - min) / (max - min)); and make sure no term is subtracted from it."
)


class NegativeLoss(Detector):
    """Fires when a loss that is non-negative by definition goes below zero."""

    id = "negative_loss"
    deferrable = True  # the Diagnoser hands a negative value on at once, with those before it

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        tolerance: float = 1e-6  # values down to -tolerance are float rounding, not a bug
        reminders: int = 2  # further reports while the loss stays negative

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._onsets = Onsets(reminders=self.thresholds.reminders)

    def on_loss(self, point):
        if not math.isfinite(point.value) or not self._cannot_be_negative(point):
            return ()
        negative = point.value < -self.thresholds.tolerance
        state = self._onsets.update(point.tag, negative, point.step)
        if state is None:
            return ()
        graph = point.graph
        loss_fn = graph.loss_fn if graph is not None else None
        what = f"{loss_fn} loss" if loss_fn else "loss"
        return [
            self.event(
                point.step,
                "error",
                point.tag,
                f"{what} is {still(state)}negative ({fmt(point.value)}) at step {point.step}, "
                "but it cannot be below 0 by definition",
                _hint(graph, point.tag),
                value=point.value,
            )
        ]

    @staticmethod
    def _cannot_be_negative(point) -> bool:
        """True when the autograd graph or the tag's name says the loss is >= 0 by definition."""
        if point.graph is not None and point.graph.nonnegative:
            return True
        # A scaled or summed graph leaves the sign open; the tag may still name the loss.
        return bool(_NONNEGATIVE_TAG.search(point.tag))


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
