"""exploding_gradient: the global gradient norm grows far beyond its early level and stays there."""

import dataclasses
import math
import statistics

from tb_lossdiag.detectors._model import ModelDetector, Streak, broken


class ExplodingGradient(ModelDetector):
    """Fires when the gradient norm exceeds `factor` x its early median for `patience` steps in a row."""

    id = "exploding_gradient"
    hint = (
        "Lower the learning rate, clip gradients (torch.nn.utils.clip_grad_norm_(model.parameters(), "
        "1.0)) before optimizer.step(), and check the initialization and normalization layers."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        factor: float = 100.0  # growth over the early median that counts as exploding
        baseline_steps: int = 3  # first finite norms whose median is the early level
        patience: int = 2  # observations in a row above it

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._early = []
        self._streak = Streak()

    def on_step(self, stats):
        norm = stats.grad_norm
        if norm is None or broken(stats):
            return ()
        if len(self._early) < self.thresholds.baseline_steps:
            if math.isfinite(norm) and norm > 0:
                self._early.append(norm)
            return ()
        baseline = statistics.median(self._early)
        above = norm > self.thresholds.factor * baseline
        run = self._streak.update("norm", above)
        if not self.onset("norm", run >= self.thresholds.patience, stats.step):
            return ()
        return [self.event(
            stats.step, "warning", "diag/grad_norm",
            f"the gradient norm is {norm:.4g} at step {stats.step}, {norm / baseline:.3g}x its "
            f"early level {baseline:.4g}, for {run} observations in a row",
            self.hint, grad_norm=norm, baseline=baseline,
        )]
