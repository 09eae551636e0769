"""saturated_activation: sigmoid/tanh layers whose outputs sit in their flat regions."""

import dataclasses

from tb_lossdiag.detectors._model import ModelDetector, broken
from tb_lossdiag.units import SATURATION, UNIT_KINDS

_FLAT = {"sigmoid": f"within {1 - SATURATION:.0%} of 0 or 1", "tanh": f"beyond +-{SATURATION}"}


class SaturatedActivation(ModelDetector):
    """Fires when most outputs of a hidden sigmoid/tanh layer sit in the flat region on `patience` sampled steps."""

    id = "saturated_activation"
    hint = (
        "Normalize the inputs, use Xavier initialization (nn.init.xavier_uniform_), add "
        "BatchNorm/LayerNorm before the activation, or use ReLU/GELU in hidden layers."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        # Share of the layer's outputs in the flat region; with Xavier init and normalized
        # inputs it is a few percent (|pre-activation| > 2.6 for tanh).
        fraction: float = 0.5
        patience: int = 2  # sampled steps in a row

    def on_step(self, stats):
        events = []
        if not stats.activations or broken(stats):  # activations: sampled steps only
            return events
        for act in stats.activations:
            kind = UNIT_KINDS.get(act.kind)
            # An output sigmoid that is confident on purpose is not an error.
            if kind not in _FLAT or not act.units or act.is_output:
                continue
            share = act.saturated_fraction
            run = self.held_onset(act.name, share >= self.thresholds.fraction, stats.step)
            if not run:
                continue
            events.append(self.event(
                stats.step, "warning", f"module {act.name}",
                f"{share:.0%} of the outputs of {act.name!r} ({act.kind}, {act.units} units) sit in "
                f"the flat region ({_FLAT[kind]}) at step {stats.step}, for {run} sampled steps in a "
                "row: their gradient is ~0, so these units barely learn",
                self.hint, saturated_fraction=share, units=act.units,
            ))
        return events
