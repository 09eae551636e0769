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
        "Check that forward() uses them and that no .detach(), .data or torch.no_grad() cuts "
        "the graph between them and the loss.",
    ),
    "frozen": (
        "info",
        "are frozen (requires_grad=False, not in the optimizer)",
        "Nothing to do if freezing is intended (fine-tuning).",
    ),
}


class FrozenParameters(ModelDetector):
    """Fires once per case: params frozen by mistake, left out of the optimizer, or lr 0 all along."""

    id = "frozen_parameters"

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        zero_lr_steps: int = 20  # steps with lr 0 from the start (a warmup leaves 0 after one)

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self._first_zero_lr = {}  # param group -> first step seen with lr 0, None once lr left 0

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
            if self.onset(("lr", group), steps >= self.thresholds.zero_lr_steps, stats.step):
                events.append(self.event(
                    stats.step, "warning", "diag/lr",
                    f"param group {group} has had learning rate 0 for all {steps} steps so "
                    "far: its parameters never change",
                    "Set a non-zero lr; check the scheduler (a warmup should leave 0 after its "
                    "first step) and optimizer.param_groups[i]['lr'].",
                    group=group,
                ))
        return events
