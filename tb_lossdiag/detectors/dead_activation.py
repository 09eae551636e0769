"""dead_activation: most units of a ReLU-like layer output zero for every input."""

import dataclasses

from tb_lossdiag.detectors._model import ModelDetector, broken
from tb_lossdiag.units import UNIT_KINDS


class DeadActivation(ModelDetector):
    """Fires when a ReLU layer has most units zero for the whole batch on `patience` sampled steps."""

    id = "dead_activation"
    hint = (
        "Lower the learning rate, use LeakyReLU/GELU, He initialization "
        "(nn.init.kaiming_normal_), and check for large negative biases or unnormalized inputs."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        fraction: float = 0.6  # share of units that are dead
        min_samples: int = 8  # values per unit needed to call one dead
        patience: int = 2  # sampled steps in a row

    def on_step(self, stats):
        events = []
        if not stats.activations or broken(stats):  # activations: sampled steps only
            return events
        for act in stats.activations:
            if UNIT_KINDS.get(act.kind) != "relu" or not act.units:
                continue
            if act.numel // act.units < self.thresholds.min_samples:
                continue
            dead = act.dead_units / act.units
            if not self.held_onset(act.name, dead >= self.thresholds.fraction, stats.step):
                continue
            events.append(self.event(
                stats.step, "warning", f"module {act.name}",
                f"{act.dead_units} of {act.units} units of {act.name!r} ({act.kind}) output 0 "
                f"for every input at step {stats.step} ({dead:.0%}): they get no gradient and "
                "never recover",
                self.hint, dead_units=act.dead_units, units=act.units,
            ))
        return events
