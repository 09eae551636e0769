"""nonfinite_loss: the loss is NaN or +-Inf."""

import dataclasses
import math

import numpy as np

from tb_lossdiag.detectors.base import Detector, LossPoint, Onsets
from tb_lossdiag.detectors.curve import fmt, still

HINT = (
    "Check the data for NaN/None/empty values (np.isnan(x).any(), df.isna().sum()), add an eps "
    "to divisions and logs (x / (y + 1e-8), torch.log(p.clamp_min(1e-8))), and lower the "
    "learning rate if the loss grew before it broke."
)


class NonfiniteLoss(Detector):
    """Fires at the first step whose loss is NaN or infinite."""

    id = "nonfinite_loss"
    deferrable = True  # the Diagnoser hands a non-finite value on at once, with those before it

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        reminders: int = 2  # further reports while the loss stays non-finite

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._onsets = Onsets(reminders=self.thresholds.reminders)
        self._last_finite = {}

    def on_losses(self, tag, steps, values, validation):
        """on_loss() of a replayed run of one tag's values: only a non-finite value, the finite one
        just before it and the last one change anything (a finite value ends an episode and is
        remembered as the last finite one, which the next overwrites)."""
        bad = ~np.isfinite(values)
        keep = bad.copy()
        keep[:-1] |= bad[1:]
        keep[-1] = True
        found = []
        for i in np.flatnonzero(keep).tolist():
            events = self.on_loss(LossPoint(tag, int(steps[i]), float(values[i]), validation))
            if events:
                found.append((i, events))
        return found

    def on_loss(self, point):
        finite = math.isfinite(point.value)
        state = self._onsets.update(point.tag, not finite, point.step)
        if finite:
            self._last_finite[point.tag] = (point.step, point.value)
            return ()
        if state is None:
            return ()
        before = self._last_finite.get(point.tag)
        evidence = f"; the last finite value was {fmt(before[1])} at step {before[0]}" if before else ""
        return [
            self.event(
                point.step,
                "error",
                point.tag,
                f"loss is {still(state)}{point.value} at step {point.step}{evidence}",
                HINT,
                value=point.value,
            )
        ]
