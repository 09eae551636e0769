"""nonfinite_activation: the first module whose output turns NaN/Inf while its input was finite."""

import math

from tb_lossdiag.detectors._model import ModelDetector

HINT = (
    "Look at what this module computes: a log or sqrt of values <= 0, a division by ~0, an exp "
    "that overflows (clamp, add an eps, use log_softmax / logsumexp); if its weights grew, lower "
    "the learning rate or clip gradients."
)


class NonfiniteActivation(ModelDetector):
    """Fires on a sampled step at the first module (forward order) that produces NaN/Inf."""

    id = "nonfinite_activation"

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._weights_broken = False

    def on_step(self, stats):
        # A broken batch breaks every module (nonfinite_input names it); once NaN gradients were
        # applied every module with weights outputs NaN, which names no cause either.
        skip = self._weights_broken or any(inp.nonfinite for inp in stats.inputs)
        self._weights_broken = skip or not all(math.isfinite(n) for n in stats.grad_norms.values())
        first = next((a for a in stats.activations if not a.finite and a.input_finite), None)
        if skip or not stats.activations or not self.onset("model", first is not None, stats.step):
            return ()
        return [self.event(
            stats.step, "error", f"module {first.name}",
            f"module {first.name!r} ({first.kind}) is the first to output NaN/Inf at step "
            f"{stats.step} (output mean {first.mean}) while its input was finite",
            HINT, mean=first.mean,
        )]
