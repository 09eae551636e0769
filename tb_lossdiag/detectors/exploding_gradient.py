"""exploding_gradient: the global gradient norm grows far beyond its early level, or starts astronomical."""

import dataclasses
import math
import statistics

from tb_lossdiag.detectors._model import ModelDetector, broken


class ExplodingGradient(ModelDetector):
    """Fires when the gradient norm stays `factor` x its early median, or dwarfs the weights at a sampled step.

    The norm covers the gradients the optimizer applies: gradients it never clears (parameters it
    does not hold) grow by accumulation, which frozen_parameters reports.
    """

    id = "exploding_gradient"
    hint = (
        "Lower the learning rate, clip gradients (torch.nn.utils.clip_grad_norm_(model.parameters(), "
        "1.0)) before optimizer.step(), and check the initialization and normalization layers."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        factor: float = 100.0  # growth over the early median that counts as exploding
        baseline_steps: int = 3  # first sampled finite norms whose median is the early level
        patience: int = 2  # observations in a row above it
        # ||gradient|| / ||weights||: below ~10 in healthy runs; ~5e6 with raw inputs in the
        # thousands (unnormalized_input's case); ~3e8 at step 0 of a ReLU RNN with recurrent gain 2
        # over 60 steps, ~2e14 of a deep N(0, 1)-initialized ReLU MLP: above this, any learning
        # rate turns the first update into noise.
        max_grad_to_weight: float = 1e8

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._early = []
        self._baseline = None

    def on_step(self, stats):
        norm = stats.grad_norm
        if norm is None or broken(stats):
            return ()
        found = self._dwarfs_weights(norm, stats) or self._grown(norm, stats.sampled)
        if not self.onset("norm", found is not None, stats.step):
            return ()
        message, evidence = found
        return [self.event(stats.step, "warning", "diag/grad_norm", f"the gradient norm is {norm:.4g} at step "
                           f"{stats.step}, {message}", self.hint, grad_norm=norm, **evidence)]

    def _dwarfs_weights(self, norm, stats):
        """(message, evidence) when the norm dwarfs the weights' (sampled steps carry them)."""
        weight = math.sqrt(sum(layer.weight_norm ** 2 for layer in stats.layers))
        if weight == 0 or norm <= self.thresholds.max_grad_to_weight * weight:
            return None
        return (f"{norm / weight:.3g}x the norm of the weights ({weight:.4g}): one update replaces "
                "the weights by noise", {"weight_norm": weight})

    def _grown(self, norm, sampled):
        """(message, evidence) when the norm has stayed far above its early level."""
        # The early level comes from sampled steps: unsampled ones reach detectors only when flagged.
        if sampled and len(self._early) < self.thresholds.baseline_steps and math.isfinite(norm) and norm > 0:
            self._early.append(norm)
            self._baseline = statistics.median(self._early)
        if self._baseline is None:
            return None
        run = self._streak.update("norm", norm > self.thresholds.factor * self._baseline)
        if run < self.thresholds.patience:
            return None
        return (f"{norm / self._baseline:.3g}x its early level {self._baseline:.4g}, for {run} "
                "observations in a row", {"baseline": self._baseline})
