"""nonfinite_input: a batch entering the watched model holds NaN or Inf."""

import math

from tb_lossdiag.detectors._model import ModelDetector

HINT = (
    "Clean the data: find the rows with torch.isnan(x).any(dim=1) / np.isnan(x).any(axis=1), then "
    "drop or fill them (df.dropna(), df.fillna()) or fix the preprocessing that made them "
    "(a division by a zero std, a log of 0, a failed parse)."
)


class NonfiniteInput(ModelDetector):
    """Fires at the first step an input argument of the model holds NaN/Inf."""

    id = "nonfinite_input"

    def on_step(self, stats):
        events = []
        for inp in stats.inputs:
            if not self.onset(inp.name, inp.nonfinite > 0, stats.step):
                continue
            numel = math.prod(inp.shape)
            where, evidence = "", {}
            if inp.bad_columns:
                column, count = inp.bad_columns[0]
                others = len(inp.bad_columns) - 1
                where = f", {count} in column {column}" + (f" (and {others} more columns)" if others else "")
                evidence = {"column": column, "column_count": count}
            events.append(self.event(
                stats.step, "error", f"input {inp.name}",
                f"the batch at step {stats.step} holds {inp.nonfinite} NaN/Inf values in input "
                f"{inp.name!r} (of {numel}){where}",
                HINT, count=inp.nonfinite, numel=numel, **evidence,
            ))
        return events
