"""nonfinite_origin: where the first NaN/Inf of a run was born (StepStats.origin, see watch/origin.py)."""

from tb_lossdiag.detectors import nonfinite_activation, nonfinite_input
from tb_lossdiag.detectors._model import ModelDetector

LOSS_HINT = (
    "The loss function made NaN/Inf from a finite model output: a log of 0 (take F.cross_entropy or "
    "log_softmax on logits, or clamp(min=1e-12) before log), a division by 0 (a mean over an empty "
    "mask: divide by mask.sum().clamp(min=1)), probabilities outside [0, 1] (use BCEWithLogitsLoss), "
    "or an infinite derivative (sqrt or pow(x, p<1) at 0: add an eps)."
)
BACKWARD_HINT = (
    "The forward pass is finite but this module's backward makes NaN/Inf: sqrt, pow(x, p<1), "
    "norm() of a zero vector, acos/asin at +-1 have infinite derivatives there; add an eps "
    "(torch.sqrt(x + 1e-12)), clamp the argument, or compute the norm with an eps."
)
HINTS = {
    "input": nonfinite_input.HINT,
    "module": nonfinite_activation.HINT,
    "loss": LOSS_HINT,
    "backward": BACKWARD_HINT,
}


class NonfiniteOrigin(ModelDetector):
    """Names the place of a step's first NaN/Inf (an input, a module's output, the loss, a module's
    backward), once per place. Evidence: the place as its key (`input`, `module`, `loss` or
    `backward`: 1.0), so causal rules can tell the places apart by name."""

    id = "nonfinite_origin"

    def on_step(self, stats):
        origin = stats.origin
        if origin is None or not self.onset((origin.place, origin.name), True, stats.step):
            return ()
        where = repr(origin.name) if origin.name else "the model itself"
        step = stats.step
        message = {
            "input": f"NaN/Inf first appeared in the input batch at step {step}: argument {where}, {origin.detail}",
            "module": f"NaN/Inf first appeared in the output of {where} ({origin.detail}) at step {step}",
            "loss": f"NaN/Inf first appeared in the loss ({origin.name}) at step {step}: {origin.detail}",
            "backward": f"NaN/Inf first appeared in the backward pass of {where} ({origin.detail}) at step {step}",
        }[origin.place]
        return [self.event(step, "error", f"{origin.place} {origin.name}".strip(), message,
                           HINTS[origin.place], **{origin.place: 1.0})]
