"""nonfinite_activation: the first module that makes NaN/Inf: from a finite input, or NaN from an -inf mask."""

import math

from tb_lossdiag.detectors._model import ModelDetector

HINT = (
    "Look at what this module computes: a log or sqrt of values <= 0, a division by ~0, an exp "
    "that overflows (clamp, add an eps, use log_softmax / logsumexp); if its weights grew, lower "
    "the learning rate or clip gradients."
)
MASK_HINT = (
    " For a softmax over -inf-masked scores: a row masked entirely gives 0/0; keep one position "
    "unmasked, mask with a large negative number (-1e4) instead of -inf, or drop empty rows."
)


class NonfiniteActivation(ModelDetector):
    """Fires on a sampled step at the first module (forward order) that produces NaN/Inf.

    A module producing NaN from an input holding +-inf but no NaN counts too: -inf is how masks
    are written (attention scores), and a softmax over a fully masked row is the first NaN.
    """

    id = "nonfinite_activation"

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._weights_broken = False

    def on_step(self, stats):
        # A broken batch breaks every module (nonfinite_input names it); once NaN gradients were
        # applied every module with weights outputs NaN, which names no cause either.
        norm = stats.grad_norm
        skip = self._weights_broken or any(inp.nonfinite for inp in stats.inputs)
        self._weights_broken = skip or norm is not None and not math.isfinite(norm)
        if skip or not stats.activations:
            return ()
        first = next((a for a in stats.activations
                      if not a.finite and (a.input_finite or a.nan and not a.input_nan)), None)
        if not self.onset("model", first is not None, stats.step):
            return ()
        source = "finite" if first.input_finite else "free of NaN (it held +-inf, e.g. an -inf mask)"
        return [self.event(
            stats.step, "error", f"module {first.name}",
            f"module {first.name!r} ({first.kind}) is the first to output NaN/Inf at step "
            f"{stats.step} (output mean {first.mean}) while its input was {source}",
            HINT + MASK_HINT * (not first.input_finite), mean=first.mean,
        )]
