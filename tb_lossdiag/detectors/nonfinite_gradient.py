"""nonfinite_gradient: gradients hold NaN or Inf."""

import math

from tb_lossdiag.detectors._model import ModelDetector, name_list

HINT = (
    "Find what breaks first (a NaN loss: check the data, add eps to logs and divisions); for "
    "gradients that blow up clip them (torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)) "
    "and lower the learning rate; with float16 use torch.amp.GradScaler."
)


class NonfiniteGradient(ModelDetector):
    """Fires at the first step whose gradient norms are not all finite, naming the parameters."""

    id = "nonfinite_gradient"

    def on_step(self, stats):
        total = stats.grad_norm
        finite = total is None or math.isfinite(total)  # the every-step case: one test
        broken = [] if finite else [name for name, norm in stats.grad_norms.items() if not math.isfinite(norm)]
        bad_batch = any(inp.nonfinite for inp in stats.inputs)
        # A broken batch starts the condition silently (nonfinite_input names the cause), so the
        # NaN weights it leaves behind are no new onset either.
        if not self.onset("grads", bool(broken) or bad_batch, stats.step) or bad_batch:
            return ()
        return [self.event(
            stats.step, "error", "gradients",
            f"gradients of {len(broken)} of {len(stats.grad_norms)} parameters are NaN/Inf at "
            f"step {stats.step}: {name_list(broken)}",
            HINT, parameters=len(broken),
        )]
