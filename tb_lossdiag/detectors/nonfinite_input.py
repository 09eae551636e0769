"""nonfinite_input: a batch entering the model holds NaN or Inf (measured by watch(), or inferred)."""

import math
from typing import Dict, Optional

from tb_lossdiag.detectors._model import ModelDetector, RunUp
from tb_lossdiag.detectors.base import LossPoint

HINT = (
    "Clean the data: find the rows with torch.isnan(x).any(dim=1) / np.isnan(x).any(axis=1), then "
    "drop or fill them (df.dropna(), df.fillna()) or fix the preprocessing that made them "
    "(a division by a zero std, a log of 0, a failed parse)."
)
HINT_INFERRED = HINT + (
    " writer.watch(model, optimizer) checks every batch and names the argument, rows and columns."
)


class NonfiniteInput(ModelDetector):
    """Fires at the first step an input argument of the model holds NaN/Inf; without watch()'s
    batch checks (swap-only), when a loss went NaN/Inf that nothing but its data can explain."""

    id = "nonfinite_input"
    # A non-finite loss goes through the Diagnoser at once, with the values before it, so the suspect
    # is set before its step's statistics reach on_step.
    deferrable = True

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._measured = False  # watch() checks the batches: they speak, nothing is inferred
        self._finite: Dict[str, bool] = {}  # loss tag -> whether its last value was finite
        self._run_up = RunUp()
        self._suspect: Optional[LossPoint] = None  # a loss that just went non-finite, for its step's stats
        self._grads_finite = True  # the last step's gradients (or none measured yet): the weights are

    def on_loss(self, point):
        if point.graph is None or point.is_validation or self._measured:
            return ()
        finite = math.isfinite(point.value)
        was_finite = self._finite.get(point.tag, True)
        self._finite[point.tag] = finite
        # From finite weights (the last loss and gradients finite, no run-up to overflow) through a
        # graph with no op that makes NaN/Inf of finite values, a NaN/Inf loss came in with the batch.
        if not finite and was_finite and point.graph.makers == () and not self._run_up.ran_up(point.tag):
            self._suspect = point
        self._run_up.add(point)
        return ()

    def on_step(self, stats):
        self._measured = self._measured or bool(stats.inputs)
        events = [self._measured_input(stats, inp) for inp in stats.inputs
                  if self.onset(inp.name, inp.nonfinite > 0, stats.step)]
        suspect = self._suspect
        if suspect is not None and suspect.step <= stats.step:
            self._suspect = None
            if (suspect.step == stats.step and not self._measured and self._grads_finite
                    and self.onset("inferred", True, stats.step)):
                events.append(self._inferred(suspect))
        norm = stats.grad_norm
        self._grads_finite = norm is None or math.isfinite(norm)
        return events

    def _measured_input(self, stats, inp):
        """The error naming an input argument's NaN/Inf values, their count and first column."""
        numel = math.prod(inp.shape)
        where, evidence = "", {}
        if inp.bad_columns:
            column, count = inp.bad_columns[0]
            others = len(inp.bad_columns) - 1
            where = f", {count} in column {column}" + (f" (and {others} more columns)" if others else "")
            evidence = {"column": column, "column_count": count}
        return self.event(
            stats.step, "error", f"input {inp.name}",
            f"the batch at step {stats.step} holds {inp.nonfinite} NaN/Inf values in input "
            f"{inp.name!r} (of {numel}){where}",
            HINT, count=inp.nonfinite, numel=numel, **evidence,
        )

    def _inferred(self, point):
        """The error for a batch that made the loss NaN/Inf, inferred from the loss and its graph."""
        return self.event(
            point.step, "error", "input",
            f"likely NaN/Inf in the batch at step {point.step}: {point.tag} became {point.value} while "
            "the weights it trains were finite (its last value and the last gradients were), and its "
            "graph holds no op that makes NaN/Inf of finite values (no division by a tensor, log, "
            "sqrt, pow or exp), so they came in with the data",
            HINT_INFERRED, value=point.value, inferred=1.0,
        )
