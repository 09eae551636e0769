"""saturated_activation: sigmoid/tanh units stuck in their flat regions."""

import dataclasses

from tb_lossdiag.detectors._model import ModelDetector, Streak, broken
from tb_lossdiag.stats import UNIT_KINDS


class SaturatedActivation(ModelDetector):
    """Fires when most units of a hidden sigmoid/tanh layer sit in saturation for almost every sample."""

    id = "saturated_activation"
    hint = (
        "Normalize the inputs, use Xavier initialization (nn.init.xavier_uniform_), add "
        "BatchNorm/LayerNorm before the activation, or use ReLU/GELU in hidden layers."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        fraction: float = 0.5  # share of units stuck (saturated for 90% of the samples)
        patience: int = 2  # sampled steps in a row

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._streak = Streak()

    def on_step(self, stats):
        events = []
        if broken(stats):
            return events
        for act in stats.activations:
            # An output sigmoid that is confident on purpose is not an error.
            if UNIT_KINDS.get(act.kind) not in ("sigmoid", "tanh") or not act.units or act.is_output:
                continue
            stuck = act.flagged_units / act.units
            run = self._streak.update(act.name, stuck >= self.thresholds.fraction)
            if not self.onset(act.name, run >= self.thresholds.patience, stats.step):
                continue
            events.append(self.event(
                stats.step, "warning", f"module {act.name}",
                f"{act.flagged_units} of {act.units} units of {act.name!r} ({act.kind}) sit in "
                f"their flat region for 90% of the inputs at step {stats.step} ({stuck:.0%}): their "
                "gradient is ~0",
                self.hint, saturated_units=act.flagged_units, units=act.units,
            ))
        return events
