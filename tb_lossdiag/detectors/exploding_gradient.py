"""exploding_gradient: the global gradient norm grows far beyond its early level, jumps by orders
of magnitude in one step, or starts astronomical."""

import collections
import dataclasses
import math
import statistics

from tb_lossdiag.detectors._model import ModelDetector, broken


class ExplodingGradient(ModelDetector):
    """Fires when the gradient norm stays `factor` x its early median, jumps `jump` x its typical
    level, is `factor` x that level at the last finite step before the gradients turn NaN/Inf, or
    dwarfs the weights at a sampled step.

    The norm covers the gradients the optimizer applies: gradients it never clears (parameters it
    does not hold) grow by accumulation, which frozen_parameters reports. Steps reach on_step when
    sampled, or unsampled with a norm 10x the last sampled one (watch()'s cheap check), so a jump
    is seen at its own step.
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
        # One step's norm over the typical level (the median of the last `typical_steps` sampled
        # norms) that is an explosion at once: the step after one is NaN, so no patience. Healthy
        # runs, spikes and schedules included, stay within ~100x; a ReLU RNN fed a 150-step
        # sequence jumps ~1e16x, then NaN.
        jump: float = 1e6
        typical_steps: int = 5
        # ||gradient|| / ||weights||: below ~10 in healthy runs; ~5e6 with raw inputs in the
        # thousands (unnormalized_input's case); ~3e8 at step 0 of a ReLU RNN with recurrent gain 2
        # over 60 steps, ~2e14 of a deep N(0, 1)-initialized ReLU MLP: above this, any learning
        # rate turns the first update into noise.
        max_grad_to_weight: float = 1e8

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._early = []
        self._baseline = None
        self._recent = collections.deque(maxlen=self.thresholds.typical_steps)  # sampled finite norms
        self._last = None  # (step, norm) of the last finite step seen

    def on_step(self, stats):
        norm = stats.grad_norm
        if norm is None:
            return ()
        if broken(stats):
            return self._before_break(stats)
        typical = statistics.median(self._recent) if self._recent else None
        grown = self._grown(norm, stats.sampled)  # every step: it keeps the early level and the streak
        found = self._dwarfs_weights(norm, stats) or self._jumped(norm, typical) or grown
        self._last = (stats.step, norm, typical)
        if stats.sampled and norm > 0:
            self._recent.append(norm)
        if not self.onset("norm", found is not None, stats.step):
            return ()
        return [self._event(stats.step, norm, *found)]

    def _event(self, step, norm, message, evidence):
        return self.event(step, "warning", "diag/grad_norm", f"the gradient norm is {norm:.4g} at step "
                          f"{step}, {message}", self.hint, grad_norm=norm, **evidence)

    def _before_break(self, stats):
        """The last finite step, reported when the gradients first turn NaN/Inf right after it
        stood `factor` x its typical level (a NaN batch is nonfinite_input's, not an explosion)."""
        last, self._last = self._last, None
        norm = stats.grad_norm
        if last is None or math.isfinite(norm) or any(inp.nonfinite for inp in stats.inputs):
            return ()
        step, last_norm, typical = last
        if typical is None or last_norm <= self.thresholds.factor * typical:
            return ()
        if not self.onset("norm", True, step):
            return ()
        return [self._event(step, last_norm, f"{last_norm / typical:.3g}x its typical level {typical:.4g}, "
                            f"and at step {stats.step} the gradients are NaN/Inf", {"typical": typical})]

    def _dwarfs_weights(self, norm, stats):
        """(message, evidence) when the norm dwarfs the weights' (sampled steps carry them)."""
        weight = math.sqrt(sum(layer.weight_norm ** 2 for layer in stats.layers))
        if weight == 0 or norm <= self.thresholds.max_grad_to_weight * weight:
            return None
        return (f"{norm / weight:.3g}x the norm of the weights ({weight:.4g}): one update replaces "
                "the weights by noise", {"weight_norm": weight})

    def _jumped(self, norm, typical):
        """(message, evidence) when this one step's norm is `jump` x the typical level."""
        if typical is None or norm <= self.thresholds.jump * typical:
            return None
        return (f"{norm / typical:.3g}x its typical level {typical:.4g} in one step", {"typical": typical})

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
