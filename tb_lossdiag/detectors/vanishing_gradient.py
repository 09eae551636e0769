"""vanishing_gradient: the early layers' gradients are vanishingly small next to the last layers'."""

import dataclasses
import math

from tb_lossdiag.detectors._model import ModelDetector, broken


class VanishingGradient(ModelDetector):
    """Fires when the first layer's per-value gradient is `ratio` times below the largest layer's."""

    id = "vanishing_gradient"
    hint = (
        "Use ReLU/GELU instead of sigmoid/tanh in hidden layers, He/Xavier initialization, "
        "normalization layers (BatchNorm/LayerNorm) or residual connections."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        ratio: float = 1e-4  # first-layer RMS gradient / largest layer RMS gradient
        patience: int = 2  # sampled steps in a row

    def on_step(self, stats):
        rms = [(layer.name, layer.grad_norm / math.sqrt(layer.numel))
               for layer in stats.layers if layer.numel and layer.grad_norm > 0]
        if len(rms) < 3 or broken(stats):
            return ()
        (first, first_rms), largest = rms[0], max(r for _, r in rms)
        vanished = first_rms < self.thresholds.ratio * largest
        if not self.held_onset("first", vanished, stats.step):
            return ()
        return [self.event(
            stats.step, "warning", f"layer {first}",
            f"the gradient reaching the first layer {first!r} is {first_rms / largest:.2g}x the "
            f"largest layer's at step {stats.step} (RMS {first_rms:.3g} vs {largest:.3g}): the "
            "early layers barely learn",
            self.hint, first_rms=first_rms, largest_rms=largest,
        )]
