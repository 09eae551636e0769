"""frozen_parameters: watched parameters that never change."""

import dataclasses

from tb_lossdiag.detectors._model import ModelDetector, name_list

# StepStats field -> (severity, what it means, the fix)
_CASES = {
    "frozen_in_optimizer": (
        "warning",
        "have requires_grad=False although the optimizer holds them: they never change",
        "Set p.requires_grad_(True) if they should train; if freezing is intended, give the "
        "optimizer only trainable ones: filter(lambda p: p.requires_grad, model.parameters()).",
    ),
    "not_in_optimizer": (
        "warning",
        "get gradients but no optimizer param group holds them: they never change",
        "Build the optimizer from all of them (torch.optim.Adam(model.parameters())), after the "
        "model is complete and moved to its device, or add them with optimizer.add_param_group().",
    ),
    "no_gradient": (
        "warning",
        "are optimized but got no gradient at optimizer.step(): they never change",
        "Check that optimizer.zero_grad() is not called between loss.backward() and "
        "optimizer.step() (it clears the gradients step() needs), that forward() uses them, and "
        "that no .detach(), .data or torch.no_grad() cuts the graph between them and the loss.",
    ),
    "unchanged": (  # swap-only: the optimizer is not known, so "not in it" is one cause of two
        "warning",
        "get gradients but never change (no optimizer step moves them)",
        "Build the optimizer from all of them (torch.optim.Adam(model.parameters())) after the model is "
        "complete, and check their param group's lr (optimizer.param_groups[i]['lr']).",
    ),
    "frozen": (
        "info",
        "are frozen (requires_grad=False, not in the optimizer)",
        "Nothing to do if freezing is intended (fine-tuning).",
    ),
}


_STILL_HINT = (
    "Check that the loss reaches the parameters through differentiable ops (no .detach(), .item(), "
    "round/argmax or torch.no_grad() on the way), that optimizer.zero_grad() comes before "
    "backward() and optimizer.step() after it, and that the learning rate moves float32 weights "
    "(an update below ~1e-7 of a weight leaves it unchanged)."
)


class FrozenParameters(ModelDetector):
    """Fires once per case: params frozen by mistake, left out of the optimizer, lr 0 all along,
    or nothing learning (every gradient zero, or no parameter changed) for `still_steps` steps."""

    id = "frozen_parameters"

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        # Steps in a row with nothing moving: lr 0 from the start (a warmup leaves 0 after one),
        # every gradient exactly 0, or no parameter changed by optimizer.step(). A plateau needs
        # ~120 loss values to tell from noise; these are exact, so ~20 steps say it at once.
        still_steps: int = 20

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._first_zero_lr = {}  # param group -> first step seen with lr 0, None once lr left 0
        self._still_since = None  # first step of the current run of steps where nothing moved

    def on_step(self, stats):
        events = []
        if stats.sampled:
            for field, (severity, meaning, hint) in _CASES.items():
                names = getattr(stats, field)
                if self.onset(field, bool(names), stats.step):
                    events.append(self.event(
                        stats.step, severity, "parameters",
                        f"{len(names)} parameter(s) {meaning}: {name_list(names)}",
                        hint, parameters=len(names),
                    ))
        for group, lr in enumerate(stats.lrs):
            # Steps reach detectors sparsely (sampled or flagged): judge by step numbers, not counts.
            first_zero = self._first_zero_lr.setdefault(group, stats.step if lr == 0 else None)
            if first_zero is None:
                continue  # this group's lr has been non-zero: a warmup, not a mistake
            if lr != 0:
                self._first_zero_lr[group] = None
                continue
            steps = stats.step - first_zero + 1
            if self.onset(("lr", group), steps >= self.thresholds.still_steps, stats.step):
                events.append(self.event(
                    stats.step, "warning", "diag/lr",
                    f"param group {group} has had learning rate 0 for all {steps} steps so "
                    "far: its parameters never change",
                    "Set a non-zero lr; check the scheduler (a warmup should leave 0 after its "
                    "first step) and optimizer.param_groups[i]['lr'].",
                    group=group,
                ))
        events.extend(self._nothing_learns(stats))
        return events

    def _nothing_learns(self, stats):
        """The 'nothing is learning' event once every gradient was exactly zero, or no parameter
        changed, at every step seen over `still_steps` steps (an lr of 0 is the lr case's)."""
        zero = stats.grad_norm == 0
        ratios = [layer.update_ratio for layer in stats.layers if layer.update_ratio is not None]
        unchanged = bool(ratios) and not any(ratios)
        if stats.grad_norm is None and not ratios:
            return ()  # nothing measured at this step: neither still nor moving
        still = (zero or unchanged) and (not stats.lrs or any(lr > 0 for lr in stats.lrs))
        if not still:
            self._still_since = None
        elif self._still_since is None:
            self._still_since = stats.step
        steps = stats.step - self._still_since + 1 if still else 0
        if not self.onset("still", steps >= self.thresholds.still_steps, stats.step):
            return ()
        what = "every gradient has been exactly zero" if zero else "no parameter has changed"
        # An error, as a NaN loss is: whatever else the run shows, none of its steps trains the model.
        return [self.event(
            stats.step, "error", "parameters",
            f"{what} at every step seen for {steps} steps (since step {self._still_since}): "
            f"nothing is learning", _STILL_HINT,
            parameters=len(stats.grad_norms) or len(ratios), steps=steps,
        )]
