"""unnormalized_input: floating inputs far from a normalized range (raw pixels, features in the thousands)."""

import dataclasses
import math

from tb_lossdiag.detectors._model import ModelDetector


class UnnormalizedInput(ModelDetector):
    """Fires on a sampled step whose floating input has a root-mean-square far above 1."""

    id = "unnormalized_input"
    hint = (
        "Normalize the inputs: images x / 255 then transforms.Normalize(mean, std); features "
        "(x - mean) / std with the training set's statistics (sklearn's StandardScaler)."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        max_rms: float = 20.0  # sqrt(mean(x^2)) of normalized data is ~1; raw pixels ~100+

    def on_step(self, stats):
        events = []
        for inp in stats.inputs:
            # Integer token ids are not "unnormalized"; NaN/Inf inputs are nonfinite_input's.
            if inp.rms is None or not inp.floating or inp.nonfinite or not math.isfinite(inp.rms):
                continue
            if not self.onset(inp.name, inp.rms > self.thresholds.max_rms, stats.step):
                continue
            events.append(self.event(
                stats.step, "warning", f"input {inp.name}",
                f"input {inp.name!r} is far from a normalized range at step {stats.step}: mean "
                f"{inp.mean:.4g}, root-mean-square {inp.rms:.4g}, max |x| {inp.absmax:.4g}; large "
                "inputs saturate units and force a tiny learning rate",
                self.hint, mean=inp.mean, rms=inp.rms, absmax=inp.absmax,
            ))
        return events
