"""unnormalized_input: inputs far from a normalized range (raw pixels, features in the thousands),
in the batches entering the watched model or in the data a data check reads."""

import dataclasses
import math

import numpy as np

from tb_lossdiag.detectors._data import Magnitudes, data_event
from tb_lossdiag.detectors._model import ModelDetector


class UnnormalizedInput(ModelDetector):
    """Fires on a sampled step whose floating input has a root-mean-square far above 1, and on a
    column or field of checked data whose typical |value| is far above 1."""

    id = "unnormalized_input"
    hint = (
        "Normalize the inputs: images x / 255 then transforms.Normalize(mean, std); features "
        "(x - mean) / std with the training set's statistics (sklearn's StandardScaler)."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        max_rms: float = 20.0  # sqrt(mean(x^2)) of normalized data is ~1; raw pixels ~100+
        max_scale: float = 10.0  # checked data: a typical |value| above this is unnormalized...
        scale_quantile: float = 0.99  # ..."typical" being this quantile, so a few outliers do not count

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

    def on_data(self, obs):
        if not isinstance(obs, Magnitudes) or not obs.values.size:
            return ()
        values, limits = obs.values, self.thresholds
        typical = float(np.quantile(np.abs(values), limits.scale_quantile))
        if typical <= limits.max_scale:
            return ()
        low, high = float(values.min()), float(values.max())
        mean, std = float(values.mean()), float(values.std())
        integral = bool(np.all(values == np.round(values)))
        evidence = {"min": low, "max": high, "mean": mean, "std": std, "typical": typical}
        place, e = obs.place, obs.place.expr
        if obs.image_like and integral and low >= 0 and high <= 255:
            message = f"{place.text} holds raw 0-255 pixel values (range [{low:g}, {high:g}], mean {mean:.4g})"
            hint = (
                f"scale them to [0, 1]: {e} = {e}.float() / 255 (torchvision's ToTensor() does this), then "
                "transforms.Normalize(mean, std)"
            )
            return [data_event(self, obs, "warning", message, hint, **evidence)]
        message = (
            f"{place.text} is not normalized: {limits.scale_quantile:.0%} of |values| reach {typical:.4g} "
            f"(range [{low:.4g}, {high:.4g}], mean {mean:.4g}, std {std:.4g})"
        )
        if std == 0:
            hint = "it is constant: drop it"
        else:
            hint = (
                f"standardize it: {e} = ({e} {'-' if mean >= 0 else '+'} {abs(mean):.4g}) / {std:.4g}, with "
                "the training set's mean and std for every split"
            )
            if integral:
                hint += "; if it is a category code, one-hot encode it or use nn.Embedding instead"
        return [data_event(self, obs, "warning", message, hint, **evidence)]
