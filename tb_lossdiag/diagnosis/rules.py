"""The causal rules: which event explains which, one small function per rule.

A rule answers "does `cause` explain `effect`?" for two events of one rank; `diagnose` calls it only
with `effect` at or after `cause` in execution order (`position`). A reader checks a rule by its
docstring (the causal claim) and its few lines (the kinds and conditions it links). A rule reads
only what `signature` holds (kind, category, evidence names; never a step, a tag or a value: the
order is diagnose's), so each pair of signatures is judged once.
"""

from typing import Callable, Tuple

from tb_lossdiag.events import Event

# Where in a training step each kind is found, for events of one step: the data before training
# (check_data writes step -1), the batch entering the model, the code's structure (the loss graph,
# the optimizer, measured operands), the model's forward pass, the loss's own ops, the loss value,
# the backward pass, the update. A cause comes first.
STAGES = {
    "nonfinite_input": 1, "unnormalized_input": 1,
    "missing_zero_grad": 2, "frozen_parameters": 2, "nll_on_probabilities": 2,
    "softmax_before_cross_entropy": 2, "target_shape_mismatch": 2, "division_by_zero": 2,
    "log_of_nonpositive": 2,
    "nonfinite_activation": 3, "saturated_activation": 3, "dead_activation": 3,
    "nonfinite_gradient": 6, "exploding_gradient": 6, "vanishing_gradient": 6,
    "grad_scale_collapse": 6,
    "guard_stop": 7,  # watch(guard="stop") raises at optimizer.step(), after the step's backward
}
_CATEGORY_STAGES = {"data": 0, "model": 3, "curve": 5}  # kinds not named above: loss curves at 5
# Where a NaN was born (nonfinite_origin, evidence named by its place): after the batch check that
# counts a NaN input, before the first module, loss value or gradient that reports it downstream.
_ORIGIN_STAGES = {"input": 1.5, "module": 2.5, "loss": 3.5, "backward": 5.5}


def position(event: Event) -> Tuple[int, float]:
    """(step, stage): the order in which a training loop meets the event."""
    if event.category == "data":
        return event.step, 0
    if event.kind == "nonfinite_origin":
        return event.step, next((v for k, v in _ORIGIN_STAGES.items() if k in event.evidence), 3)
    if inferred_op(event):
        return event.step, 4  # the loss's own division or log, after the model's forward
    if nothing_learning(event):
        return event.step, 7  # seen once optimizer.step() left every parameter where it was
    return event.step, STAGES.get(event.kind, _CATEGORY_STAGES.get(event.category, 4))


def signature(event: Event) -> Tuple[str, str, Tuple[str, ...]]:
    """All a rule may read of an event: its kind, its category and the names of its evidence."""
    return event.kind, event.category, tuple(sorted(event.evidence))


def nothing_learning(event: Event) -> bool:
    """frozen_parameters' "nothing is learning" (no parameter moved for `steps` steps, evidence
    `steps`), not parameters left out or frozen by mistake: itself a stall with a cause upstream."""
    return event.kind == "frozen_parameters" and "steps" in event.evidence


def inferred_op(event: Event) -> bool:
    """A division_by_zero / log_of_nonpositive read off a non-finite loss whose graph holds the op
    (evidence `value`), not off measured operands: itself an echo of whatever made the loss NaN."""
    return event.kind in ("division_by_zero", "log_of_nonpositive") and "value" in event.evidence


# What a non-finite value anywhere brings along: the kinds that report NaN/Inf downstream.
NONFINITE = ("nonfinite_loss", "nonfinite_gradient", "nonfinite_activation")
# What a too-large update brings along (a learning rate too high, gradients never zeroed).
INSTABILITY = ("loss_divergence", "loss_oscillation", "exploding_gradient", "loss_spike")


def _stall(effect: Event) -> bool:
    """Whether `effect` says training stopped making progress (a plateau, nothing learning)."""
    return effect.kind == "loss_plateau" or nothing_learning(effect)


def _echo(effect: Event) -> bool:
    """Whether `effect` reports NaN/Inf that arrived from upstream (where a NaN was first seen
    included: whatever made the NaN explains its birthplace; and watch(guard="stop") stopping the
    run at a non-finite step)."""
    return (effect.kind in NONFINITE or inferred_op(effect)
            or effect.kind in ("grad_scale_collapse", "nonfinite_origin", "guard_stop"))


def same_fault_again(cause: Event, effect: Event) -> bool:
    """A kind found again is the same fault: a reminder or a re-onset, another layer, argument or
    column with the same finding, another loss curve (train and validation)."""
    return cause.kind == effect.kind


def nonfinite_input_poisons(cause: Event, effect: Event) -> bool:
    """A NaN/Inf batch makes its step's activations, loss and gradients non-finite, and the weights
    it updates keep them so for every later step."""
    return cause.kind == "nonfinite_input" and _echo(effect)


def data_nonfinite_reaches_batches(cause: Event, effect: Event) -> bool:
    """NaN/None/Inf found in the data by a data check (blank strings too: they become NaN when
    converted to numbers) arrive in batches: they explain a non-finite batch and what it poisons."""
    if cause.kind not in ("missing_values", "nonfinite_values", "empty_strings") or cause.category != "data":
        return False
    return effect.kind == "nonfinite_input" or _echo(effect)


def op_at_zero_makes_nonfinite(cause: Event, effect: Event) -> bool:
    """A division by ~0 or a log of <= 0 yields Inf/NaN in forward: the loss, its gradients (and
    with float16 the GradScaler's skipped steps) follow."""
    return cause.kind in ("division_by_zero", "log_of_nonpositive") and _echo(effect)


def nonfinite_activation_flows_on(cause: Event, effect: Event) -> bool:
    """The first module to output NaN/Inf hands it to the loss and, in backward, to the gradients."""
    return cause.kind == "nonfinite_activation" and _echo(effect)


def nonfinite_origin_flows_on(cause: Event, effect: Event) -> bool:
    """The place a step's first NaN/Inf appeared (a module's output, the loss, a module's backward)
    hands it on to everything after it: the loss, the gradients, and the weights they update."""
    return cause.kind == "nonfinite_origin" and _echo(effect)


def nonfinite_loss_flows_back(cause: Event, effect: Event) -> bool:
    """A NaN/Inf loss makes every gradient of its backward non-finite, and the weights they update
    make every later loss (train and validation) and activation non-finite."""
    return cause.kind == "nonfinite_loss" and _echo(effect)


def nonfinite_gradient_breaks_weights(cause: Event, effect: Event) -> bool:
    """NaN/Inf gradients, once applied, make the weights non-finite: every later activation and
    loss is too (the loss of their own step comes before them: it is not offered)."""
    return cause.kind == "nonfinite_gradient" and _echo(effect)


def instability_escalates(cause: Event, effect: Event) -> bool:
    """Updates too large for the loss surface (the learning rate too high) show as a diverging or
    oscillating loss and exploding gradients, each bringing the others, and end in Inf/NaN."""
    if cause.kind not in ("loss_divergence", "loss_oscillation", "exploding_gradient"):
        return False
    return effect.kind in INSTABILITY or _echo(effect)


def stale_gradients_accumulate(cause: Event, effect: Event) -> bool:
    """Gradients never zeroed add up step after step: every update repeats all earlier ones, so
    gradients grow, the loss oscillates or diverges, and may end in Inf/NaN."""
    return cause.kind == "missing_zero_grad" and (effect.kind in INSTABILITY or _echo(effect))


def unscaled_inputs_saturate_and_explode(cause: Event, effect: Event) -> bool:
    """Inputs far from unit scale drive sigmoid/tanh units into their flat region, ReLUs dead, and
    pre-activations, gradients and the loss to explode (Inf in float16)."""
    if cause.kind not in ("unnormalized_input", "outlier_values"):
        return False
    return effect.kind in ("saturated_activation", "dead_activation", "exploding_gradient",
                           "loss_divergence") or _echo(effect)


def flat_units_stall(cause: Event, effect: Event) -> bool:
    """Saturated or dead units pass (almost) no gradient back: the gradient vanishes and the loss
    stalls."""
    if cause.kind not in ("saturated_activation", "dead_activation"):
        return False
    return effect.kind == "vanishing_gradient" or _stall(effect)


def vanishing_gradient_stalls(cause: Event, effect: Event) -> bool:
    """Layers that get ~0 gradient do not learn: the loss stalls."""
    return cause.kind == "vanishing_gradient" and _stall(effect)


def nll_on_probabilities_goes_negative(cause: Event, effect: Event) -> bool:
    """nll_loss on probabilities computes -p[target], in [-1, 0]: the loss is negative and its
    gradient does not train a classifier, so it stalls."""
    return cause.kind == "nll_on_probabilities" and (effect.kind == "negative_loss" or _stall(effect))


def broken_loss_does_not_train(cause: Event, effect: Event) -> bool:
    """A loss below its floor (probabilities fed to nll_loss, targets outside the loss's range, a
    sign error) does not measure the fit: minimizing it leaves the model where it is."""
    return cause.kind == "negative_loss" and _stall(effect)


def softmax_before_cross_entropy_slows(cause: Event, effect: Event) -> bool:
    """CrossEntropyLoss on softmax output squashes the logits' scale twice: the gradients shrink
    and the loss crawls or stalls."""
    return cause.kind == "softmax_before_cross_entropy" and (effect.kind == "vanishing_gradient" or _stall(effect))


def shape_mismatch_stalls(cause: Event, effect: Event) -> bool:
    """A loss broadcasting [N,1] against [N] compares every prediction with every target: the best
    the model can do is predict the mean, so the loss stalls."""
    return cause.kind == "target_shape_mismatch" and _stall(effect)


def frozen_parameters_stall(cause: Event, effect: Event) -> bool:
    """Parameters that never change (frozen by mistake, left out of the optimizer, lr 0) cannot
    lower the loss: it stalls."""
    return cause.kind == "frozen_parameters" and _stall(effect)


def skipped_steps_stall(cause: Event, effect: Event) -> bool:
    """A collapsed GradScaler skips every optimizer step: nothing changes, the loss stalls."""
    return cause.kind == "grad_scale_collapse" and _stall(effect)


RULES: Tuple[Callable[[Event, Event], bool], ...] = (
    same_fault_again,
    nonfinite_input_poisons,
    data_nonfinite_reaches_batches,
    op_at_zero_makes_nonfinite,
    nonfinite_activation_flows_on,
    nonfinite_origin_flows_on,
    nonfinite_loss_flows_back,
    nonfinite_gradient_breaks_weights,
    instability_escalates,
    stale_gradients_accumulate,
    unscaled_inputs_saturate_and_explode,
    flat_units_stall,
    vanishing_gradient_stalls,
    nll_on_probabilities_goes_negative,
    broken_loss_does_not_train,
    softmax_before_cross_entropy_slows,
    shape_mismatch_stalls,
    frozen_parameters_stall,
    skipped_steps_stall,
)


def explains(cause: Event, effect: Event) -> bool:
    """Whether some rule links `cause` to `effect` (an event of the same rank, met no earlier)."""
    return any(rule(cause, effect) for rule in RULES)
