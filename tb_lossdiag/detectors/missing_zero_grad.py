"""missing_zero_grad: gradients accumulate across optimizer steps because they are never zeroed."""

from tb_lossdiag.detectors._model import ModelDetector, name_list


class MissingZeroGrad(ModelDetector):
    """Fires when .grad still holds the last step's gradient at the first backward after step()."""

    id = "missing_zero_grad"
    hint = (
        "Call optimizer.zero_grad() before loss.backward() in every step (with gradient "
        "accumulation: after each optimizer.step())."
    )

    def on_step(self, stats):
        stale = stats.grads_not_cleared
        if not self.onset("grads", bool(stale), stats.step):
            return ()
        return [self.event(
            stats.step, "error", "gradients",
            f"at step {stats.step}, backward() added to the previous step's gradients of "
            f"{len(stale)} parameter(s) ({name_list(stale)}): they were not zeroed after "
            "optimizer.step(), so every update repeats all earlier ones",
            self.hint, parameters=len(stale),
        )]
