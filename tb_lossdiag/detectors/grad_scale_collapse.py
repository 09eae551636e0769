"""grad_scale_collapse: a GradScaler skipping step after step, its scale falling toward zero."""

import dataclasses

from tb_lossdiag.detectors._model import ModelDetector


class GradScaleCollapse(ModelDetector):
    """Fires when the scale of `watch(scaler=...)` has fallen below `min_scale` after skipped steps.

    Skipped steps are how a GradScaler finds its scale (any number early on is healthy); a scale
    that keeps halving means the gradients are inf/NaN at every scale, so no step is taken at all.
    """

    id = "grad_scale_collapse"
    hint = (
        "The gradients overflow or are NaN whatever the scale, so the scaler skips every step: find "
        "the op that is non-finite in float16 (run a few steps without autocast/GradScaler and let "
        "nonfinite_gradient name it; sqrt/log/division at 0 need an eps), compute the loss in "
        "float32 outside autocast, or train in bfloat16, which needs no GradScaler."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        # Scaled gradients no larger than the true ones: float16's headroom is gone. From the
        # default init_scale (65536) that takes 17 halvings, i.e. skipped steps with no good one.
        min_scale: float = 1.0

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._peak = 0.0
        self._skipped = 0  # skipped iterations over the sampled steps seen
        self._first_step = None

    def on_step(self, stats):
        scale = stats.grad_scale
        if scale is None:
            return ()
        self._first_step = stats.step if self._first_step is None else self._first_step
        self._peak = max(self._peak, scale)
        self._skipped += stats.skipped_steps
        # Only a scale that fell counts: a user's own init_scale below 1 is a choice, not a collapse.
        collapsed = scale < self.thresholds.min_scale and scale < self._peak
        if not self.onset("scale", collapsed, stats.step):
            return ()
        return [self.event(
            stats.step, "warning", "diag/grad_scale",
            f"the GradScaler's scale fell to {scale:.3g} (from {self._peak:.3g}) by step {stats.step}; "
            f"{self._skipped} optimizer steps were skipped for inf/NaN gradients since step "
            f"{self._first_step}: the model has stopped training",
            self.hint, scale=scale, peak_scale=self._peak, skipped_steps=self._skipped,
        )]
