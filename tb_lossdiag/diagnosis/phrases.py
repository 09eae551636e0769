"""Each event as a short phrase of a diagnosis's one-line chain, built from its evidence."""

from typing import Callable, Dict

from tb_lossdiag.diagnosis.rules import inferred_op
from tb_lossdiag.events import Event


def _num(value: float) -> str:
    """3 significant digits; NaN and Inf as a user reads them."""
    return {"nan": "NaN", "inf": "Inf", "-inf": "-Inf"}.get(str(value), f"{value:.3g}")


def _count(value: float, noun: str) -> str:
    """'1 parameter', '4 parameters'."""
    n = int(value)
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _name(event: Event) -> str:
    """The argument, module, layer or column an event's tag names ("input x" -> "x")."""
    return event.tag.split(" ", 1)[-1] if " " in event.tag else event.tag


def _nonfinite_input(e: Event) -> str:
    ev = e.evidence
    if "inferred" in ev:  # swap-only: read off a NaN loss and its graph, not off the batch
        return (f"likely NaN/Inf in the batch at step {e.step} (the loss turned "
                f"{_num(ev.get('value', float('nan')))} from finite weights, through no op that makes NaN)")
    where = [f"argument `{_name(e)}`"]
    if "column" in ev:
        where.append(f"column {int(ev['column'])}")
    if "row" in ev:  # the first bad row of the batch, and how many rows hold NaN/Inf
        more = int(ev.get("bad_rows", 1)) - 1
        where.append(f"row {int(ev['row'])}" + (f" and {more} more" if more > 0 else ""))
    where.append(f"{int(ev.get('count', 0))} of {_count(ev.get('numel', 0), 'value')}")
    return f"NaN/Inf in the input data ({', '.join(where)} of the batch at step {e.step})"


def _nonfinite_loss(e: Event) -> str:
    return f"`{e.tag}` {_num(e.evidence.get('value', float('nan')))} at step {e.step}"


def _op(e: Event) -> str:
    op = "a division by ~0" if e.kind == "division_by_zero" else "a log of <= 0"
    if inferred_op(e):
        return f"{op} in the graph of `{e.tag}` makes it {_num(e.evidence['value'])} at step {e.step}"
    return (f"{op} in the {e.tag} ({int(e.evidence.get('bad_values', 0))} of "
            f"{int(e.evidence.get('values', 0))} operands) at step {e.step}")


def _divergence(e: Event) -> str:
    ev = e.evidence
    return (f"`{e.tag}` diverged ({_num(ev.get('best_level', 0))} -> {_num(ev.get('level', 0))}, "
            f"steps {int(ev.get('best_step', e.step))}-{e.step})")


def _frozen(e: Event) -> str:
    if "steps" in e.evidence:
        return f"nothing is learning: no parameter moved for {int(e.evidence['steps'])} steps (step {e.step})"
    if "group" in e.evidence:
        return f"param group {int(e.evidence['group'])} has learning rate 0 (step {e.step})"
    return f"{_count(e.evidence.get('parameters', 0), 'parameter')} never change (step {e.step})"


def _nll_on_probabilities(e: Event) -> str:
    if "first_max" in e.evidence:  # inferred from a float loss's first values
        return (f"nll_loss fed probabilities: `{e.tag}` is negative from its first value and within [-1, 0] "
                f"({_num(e.evidence['first_max'])} to {_num(e.evidence['first_min'])}, step {e.step})")
    return f"nll_loss fed probabilities (`{e.tag}`)"


PHRASES: Dict[str, Callable[[Event], str]] = {
    "nonfinite_input": _nonfinite_input,
    "nonfinite_loss": _nonfinite_loss,
    "nonfinite_gradient": lambda e: f"gradients of {_count(e.evidence.get('parameters', 0), 'parameter')} NaN/Inf at step {e.step}",
    "nonfinite_activation": lambda e: f"module `{_name(e)}` outputs NaN/Inf at step {e.step}",
    "nonfinite_origin": lambda e: e.message,  # the birthplace, as the origin search worded it
    "division_by_zero": _op,
    "log_of_nonpositive": _op,
    "loss_divergence": _divergence,
    "loss_oscillation": lambda e: f"`{e.tag}` oscillates (period {int(e.evidence.get('period', 0))}) from step {e.step}",
    "loss_plateau": lambda e: f"`{e.tag}` stalls at {_num(e.evidence.get('level', 0))} from step {e.step}",
    "loss_spike": lambda e: f"`{e.tag}` spikes to {_num(e.evidence.get('value', 0))} at step {e.step}",
    "overfitting": lambda e: f"`{e.tag}` rises from its best {_num(e.evidence.get('best_val', 0))} while training improves (step {e.step})",
    "negative_loss": lambda e: f"`{e.tag}` negative ({_num(e.evidence.get('value', 0))}) at step {e.step}",
    "exploding_gradient": lambda e: f"gradient norm {_num(e.evidence.get('grad_norm', 0))} at step {e.step}",
    "vanishing_gradient": lambda e: f"gradient vanishes at layer `{_name(e)}` (step {e.step})",
    "dead_activation": lambda e: f"{int(e.evidence.get('dead_units', 0))} of {int(e.evidence.get('units', 0))} units of `{_name(e)}` dead at step {e.step}",
    "saturated_activation": lambda e: f"{e.evidence.get('saturated_fraction', 0):.0%} of `{_name(e)}` saturated at step {e.step}",
    "missing_zero_grad": lambda e: f"gradients of {_count(e.evidence.get('parameters', 0), 'parameter')} never zeroed (step {e.step}): every update repeats all earlier ones",
    "frozen_parameters": _frozen,
    "grad_scale_collapse": lambda e: f"GradScaler scale collapsed to {_num(e.evidence.get('scale', 0))} at step {e.step}",
    "nll_on_probabilities": _nll_on_probabilities,
    "softmax_before_cross_entropy": lambda e: f"CrossEntropyLoss fed softmax output (`{e.tag}`)",
    "target_shape_mismatch": lambda e: f"loss broadcasts prediction and target of different shapes (`{e.tag}`)",
    "unnormalized_input": lambda e: f"unnormalized input `{_name(e)}` (RMS {_num(e.evidence.get('rms', 0))})"
    if "rms" in e.evidence else f"unnormalized data `{_name(e)}`",
}


def phrase(event: Event, root: bool = True) -> str:
    """The event in a few words, with its numbers (its kind, tag and step when no phrase is known);
    an operand check read off a NaN loss says only that the loss is NaN when it is a consequence."""
    if not root and inferred_op(event):
        return _nonfinite_loss(event)
    known = PHRASES.get(event.kind)
    if known is not None:
        return known(event)
    when = "before training" if event.step < 0 else f"at step {event.step}"
    return f"{event.kind.replace('_', ' ')} in `{event.tag}` {when}"
