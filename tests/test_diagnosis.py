"""diagnose(): roots, consequences, ordering, ranks, ended conditions, from hand-built events."""

import dataclasses
import json

import pytest

from tb_lossdiag.diagnosis import Diagnosis, describe, diagnose
from tb_lossdiag.diagnosis.rules import RULES
from tb_lossdiag.events import Event

CATEGORY = {
    "nonfinite_input": "model", "nonfinite_gradient": "model", "nonfinite_activation": "model",
    "exploding_gradient": "model", "missing_zero_grad": "model", "unnormalized_input": "model",
    "saturated_activation": "model", "dead_activation": "model", "vanishing_gradient": "model",
    "nll_on_probabilities": "model", "softmax_before_cross_entropy": "model",
    "target_shape_mismatch": "model", "division_by_zero": "model", "log_of_nonpositive": "model",
    "frozen_parameters": "model", "grad_scale_collapse": "model", "nonfinite_origin": "model", "guard_stop": "model",
    "missing_values": "data", "nonfinite_values": "data", "empty_strings": "data",
}
TAGS = {
    "nonfinite_input": "input input", "nonfinite_gradient": "gradients", "nonfinite_activation": "module 2",
    "exploding_gradient": "diag/grad_norm", "missing_zero_grad": "gradients",
    "unnormalized_input": "input input", "saturated_activation": "module 1", "dead_activation": "module 1",
    "vanishing_gradient": "layer 0", "frozen_parameters": "parameters", "grad_scale_collapse": "diag/grad_scale",
    "division_by_zero": "forward graph", "log_of_nonpositive": "forward graph",
    "missing_values": "data/x", "nonfinite_values": "data/x",
}


def ev(kind, step, severity="error", tag=None, rank=0, **evidence):
    """An event as its detector would write it (category and tag from the kind)."""
    return Event(step=step, kind=kind, severity=severity, tag=tag or TAGS.get(kind, "loss/train"),
                 message=f"{kind} at {step}", hint=f"fix {kind}", evidence=evidence,
                 category=CATEGORY.get(kind, "curve"), rank=rank)


def roots(events):
    return [d.root.kind for d in diagnose(events)]


def linked(cause, effect):
    """Whether diagnose() puts `effect` among `cause`'s consequences (one diagnosis)."""
    found = diagnose([cause, effect])
    return len(found) == 1 and found[0].root == cause and found[0].consequences == (effect,)


NAN = float("nan")

# (cause, effect): each rule links these ...
LINKS = {
    "nonfinite input -> loss of its step": (ev("nonfinite_input", 8, count=1), ev("nonfinite_loss", 8, value=NAN)),
    "nonfinite input -> later val loss": (ev("nonfinite_input", 8), ev("nonfinite_loss", 9, tag="loss/val", value=NAN)),
    "nonfinite input -> gradients": (ev("nonfinite_input", 8), ev("nonfinite_gradient", 8, parameters=4)),
    "nonfinite input -> guard stop": (ev("nonfinite_input", 8), ev("guard_stop", 8, tag="optimizer")),
    "nan gradient -> guard stop of its step": (ev("nonfinite_gradient", 8), ev("guard_stop", 8, tag="optimizer")),
    "same argument broken again": (ev("nonfinite_input", 8), ev("nonfinite_input", 20)),
    "another argument at the same step": (ev("nonfinite_input", 8), ev("nonfinite_input", 8, tag="input target")),
    "another argument later": (ev("nonfinite_input", 8), ev("nonfinite_input", 9, tag="input target")),
    "another layer saturated at the same check": (ev("saturated_activation", 10, "warning"), ev("saturated_activation", 10, "warning", tag="module 3")),
    "zero_grad forgotten again": (ev("missing_zero_grad", 1), ev("missing_zero_grad", 61)),
    "plateau on the validation curve too": (ev("loss_plateau", 119, "warning"), ev("loss_plateau", 129, "warning", tag="loss/val")),
    "nonfinite input -> inferred log": (ev("nonfinite_input", 8), ev("log_of_nonpositive", 8, tag="loss/train", value=NAN)),
    "data check -> nonfinite input": (ev("missing_values", -1, count=3), ev("nonfinite_input", 5)),
    "blank strings -> nonfinite loss": (ev("empty_strings", -1, "warning", tag="data/age"), ev("nonfinite_loss", 5, value=NAN)),
    "division -> nonfinite loss": (ev("division_by_zero", 3, minimum=0.0, bad_values=1, values=8), ev("nonfinite_loss", 3, value=NAN)),
    "log -> nonfinite gradient": (ev("log_of_nonpositive", 3, minimum=0.0, bad_values=1, values=8), ev("nonfinite_gradient", 3)),
    "division -> scaler collapse": (ev("division_by_zero", 3), ev("grad_scale_collapse", 30, severity="warning")),
    "activation -> loss": (ev("nonfinite_activation", 4), ev("nonfinite_loss", 4, value=NAN)),
    "activation -> the loss's division at its step": (ev("nonfinite_activation", 40), ev("division_by_zero", 40, tag="loss/train", value=NAN)),
    "the loss's log -> that loss": (ev("log_of_nonpositive", 3, tag="loss/train", value=NAN), ev("nonfinite_loss", 3, value=NAN)),
    "nonfinite loss -> gradients": (ev("nonfinite_loss", 4, value=NAN), ev("nonfinite_gradient", 4)),
    "nonfinite gradient -> next loss": (ev("nonfinite_gradient", 4), ev("nonfinite_loss", 5, value=NAN)),
    "divergence -> exploding gradient": (ev("loss_divergence", 3, "warning", best_level=1.0, level=9.0), ev("exploding_gradient", 4, "warning")),
    "divergence -> NaN": (ev("loss_divergence", 3, "warning"), ev("nonfinite_loss", 6, value=float("inf"))),
    "exploding gradient -> divergence": (ev("exploding_gradient", 2, "warning"), ev("loss_divergence", 5, "warning")),
    "oscillation -> divergence": (ev("loss_oscillation", 60, "warning"), ev("loss_divergence", 90, "warning")),
    "missing zero_grad -> exploding": (ev("missing_zero_grad", 1), ev("exploding_gradient", 6, "warning")),
    "missing zero_grad -> oscillation": (ev("missing_zero_grad", 1), ev("loss_oscillation", 80, "warning")),
    "unnormalized -> saturation": (ev("unnormalized_input", 0, "warning", rms=900.0), ev("saturated_activation", 10, "warning")),
    "unnormalized -> dead units": (ev("unnormalized_input", 0, "warning"), ev("dead_activation", 10, "warning")),
    "unnormalized -> float16 overflow": (ev("unnormalized_input", 0, "warning"), ev("nonfinite_activation", 0)),
    "saturation -> vanishing gradient": (ev("saturated_activation", 10, "warning"), ev("vanishing_gradient", 20, "warning")),
    "nll on probabilities -> negative loss": (ev("nll_on_probabilities", 0, value=-0.3), ev("negative_loss", 0, value=-0.3)),
    "nll on probabilities -> negative val loss": (ev("nll_on_probabilities", 0), ev("negative_loss", 9, tag="loss/val")),
    "negative loss -> plateau": (ev("negative_loss", 2, "warning", value=-0.2), ev("loss_plateau", 139, "warning")),
    "softmax before CE -> plateau": (ev("softmax_before_cross_entropy", 0, "warning"), ev("loss_plateau", 130, "warning")),
    "shape mismatch -> plateau": (ev("target_shape_mismatch", 0), ev("loss_plateau", 130, "warning")),
    "frozen -> plateau": (ev("frozen_parameters", 0, "warning", parameters=2), ev("loss_plateau", 130, "warning")),
    "dead units -> nothing learning": (ev("dead_activation", 10, "warning"), ev("frozen_parameters", 20, "warning", parameters=4, steps=20)),
    "collapsed scaler -> nothing learning at its step": (ev("grad_scale_collapse", 20, "warning"), ev("frozen_parameters", 20, "warning", parameters=4, steps=20)),
    "nothing learning -> plateau": (ev("frozen_parameters", 20, "warning", parameters=4, steps=20), ev("loss_plateau", 130, "warning")),
    "NaN born in a module -> its activation report": (ev("nonfinite_origin", 8, tag="module enc", module=1.0), ev("nonfinite_activation", 8)),
    "NaN born in the loss -> that loss": (ev("nonfinite_origin", 8, tag="loss mse_loss", loss=1.0), ev("nonfinite_loss", 8, value=NAN)),
    "NaN born in backward -> gradients": (ev("nonfinite_origin", 8, tag="backward norm", backward=1.0), ev("nonfinite_gradient", 8)),
    "NaN batch -> where it was born": (ev("nonfinite_input", 8), ev("nonfinite_origin", 8, tag="input x", input=1.0)),
    "measured division -> the module it made NaN": (ev("division_by_zero", 8, minimum=0.0, bad_values=1, values=8), ev("nonfinite_origin", 8, tag="module div", module=1.0)),
    "exploding gradients -> the NaN's birthplace": (ev("exploding_gradient", 5, "warning"), ev("nonfinite_origin", 8, tag="module fc", module=1.0)),
}
# ... and must not link these.
NOT_LINKS = {
    "NaN loss 500 steps before the input": (ev("nonfinite_input", 600), ev("nonfinite_loss", 100, value=NAN)),
    "input does not explain a plateau": (ev("nonfinite_input", 8), ev("loss_plateau", 200, "warning")),
    "division does not explain a divergence": (ev("division_by_zero", 3), ev("loss_divergence", 50, "warning")),
    "later division does not explain an earlier NaN": (ev("division_by_zero", 30), ev("nonfinite_loss", 3, value=NAN)),
    "divergence does not explain a plateau": (ev("loss_divergence", 3, "warning"), ev("loss_plateau", 300, "warning")),
    "divergence after the NaN does not explain it": (ev("loss_divergence", 30, "warning"), ev("nonfinite_loss", 6, value=NAN)),
    "missing zero_grad does not explain a negative loss": (ev("missing_zero_grad", 1), ev("negative_loss", 5)),
    "unnormalized does not explain overfitting": (ev("unnormalized_input", 0, "warning"), ev("overfitting", 90, "warning")),
    "nll on probabilities does not explain NaN": (ev("nll_on_probabilities", 0), ev("nonfinite_loss", 5, value=NAN)),
    "softmax before CE does not explain divergence": (ev("softmax_before_cross_entropy", 0, "warning"), ev("loss_divergence", 50, "warning")),
    "frozen does not explain exploding": (ev("frozen_parameters", 0, "warning"), ev("exploding_gradient", 50, "warning")),
    "shape mismatch does not explain a negative loss": (ev("target_shape_mismatch", 0), ev("negative_loss", 3)),
    "missing values do not explain a plateau": (ev("missing_values", -1), ev("loss_plateau", 130, "warning")),
    "negative loss does not explain a divergence": (ev("negative_loss", 2), ev("loss_divergence", 50, "warning")),
    "dead units do not explain parameters left out of the optimizer": (ev("dead_activation", 10, "warning"), ev("frozen_parameters", 20, "warning", parameters=4)),
    "plateau explains nothing": (ev("loss_plateau", 130, "warning"), ev("frozen_parameters", 140, "warning")),
    "a NaN's birthplace does not explain a plateau": (ev("nonfinite_origin", 8, tag="module enc", module=1.0), ev("loss_plateau", 130, "warning")),
}


def _origin(step, place, name, message):
    return dataclasses.replace(ev("nonfinite_origin", step, tag=f"{place} {name}", **{place: 1.0}), message=message)


def test_the_nans_birthplace_is_the_root_and_named_first():
    """A module's output is the first NaN: one diagnosis rooted there, in execution order before the
    activation report of the same module and step (not repeated), the loss and gradients its consequences."""
    born = _origin(8, "module", "enc.fc2", "NaN/Inf first appeared in the output of 'enc.fc2' (Linear) at step 8")
    events = [ev("nonfinite_loss", 8, value=NAN), ev("nonfinite_gradient", 8, parameters=4),
              ev("nonfinite_activation", 8, tag="module enc.fc2"), born]
    (diagnosis,) = diagnose(events)
    assert diagnosis.root is born and diagnosis.summary.startswith(
        "NaN/Inf first appeared in the output of 'enc.fc2' (Linear) at step 8 -> `loss/train` NaN at step 8 -> "
        "gradients of 4 parameters NaN/Inf at step 8. Fix:")


def test_a_nan_birthplace_is_named_in_its_causes_chain_first():
    """Exploding gradients end in a NaN born in a module: the birthplace is the chain's first link,
    however many echoes come before it; a NaN batch's root does not repeat its own birthplace."""
    born = _origin(9, "module", "fc", "NaN/Inf first appeared in the output of 'fc' (Linear) at step 9")
    events = [ev("exploding_gradient", 5, "warning", grad_norm=1e6)] + [
        ev("nonfinite_loss", 9, tag=f"loss/{i}", value=NAN) for i in range(5)] + [born]
    (diagnosis,) = diagnose(events)
    assert diagnosis.summary.startswith("gradient norm 1e+06 at step 5 -> NaN/Inf first appeared in the output of 'fc'")
    batch = _origin(8, "input", "x", "NaN/Inf first appeared in the input batch at step 8: argument 'x'")
    (diagnosis,) = diagnose([ev("nonfinite_input", 8, count=1, numel=8), batch, ev("nonfinite_loss", 8, value=NAN)])
    assert diagnosis.root.kind == "nonfinite_input" and "first appeared" not in diagnosis.summary


@pytest.mark.parametrize("name", sorted(LINKS))
def test_rule_links(name):
    cause, effect = LINKS[name]
    assert linked(cause, effect), name


@pytest.mark.parametrize("name", sorted(NOT_LINKS))
def test_rule_does_not_link(name):
    cause, effect = NOT_LINKS[name]
    assert not linked(cause, effect) and len(diagnose([cause, effect])) == 2, name


def test_nan_in_data_is_one_diagnosis_rooted_at_the_input():
    events = [
        ev("nonfinite_loss", 8, value=NAN),  # file order need not be execution order
        ev("nonfinite_input", 8, count=1, numel=256, column=2, column_count=1),
        ev("nonfinite_gradient", 8, parameters=4),
        ev("nonfinite_loss", 9, tag="loss/val", value=NAN),
        ev("nonfinite_input", 20, count=1, numel=256, column=2),
        ev("nonfinite_loss", 108, value=NAN),
    ]
    (diagnosis,) = diagnose(events)
    assert diagnosis.root.kind == "nonfinite_input" and diagnosis.root.step == 8
    assert len(diagnosis.consequences) == 5
    assert diagnosis.confidence == "certain"
    assert diagnosis.fix == "fix nonfinite_input"
    assert diagnosis.summary.startswith(
        "NaN/Inf in the input data (argument `input`, column 2, 1 of 256 values of the batch at step 8)"
        " -> `loss/train` NaN at step 8 -> gradients of 4 parameters NaN/Inf at step 8 -> `loss/val` NaN at step 9")
    assert diagnosis.summary.endswith(". Fix: fix nonfinite_input")
    assert "\n" not in diagnosis.summary


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_rules_read_only_the_signature(rule):
    """diagnose judges each pair of signatures once: no rule may read a step, tag or message."""
    for cause, effect in [*LINKS.values(), *NOT_LINKS.values()]:
        moved = [dataclasses.replace(e, step=e.step + 1000, tag="elsewhere", message="") for e in (cause, effect)]
        assert rule(cause, effect) == rule(*moved)


def test_at_one_step_the_loss_explains_its_gradients_not_the_reverse():
    gradient, loss = ev("nonfinite_gradient", 4), ev("nonfinite_loss", 4, value=NAN)
    assert linked(loss, gradient) and not linked(gradient, loss)
    assert roots([gradient, loss]) == ["nonfinite_loss"]
    inferred_log = ev("log_of_nonpositive", 4, tag="loss/train", value=NAN)  # read off that loss, written after it
    assert roots([loss, inferred_log]) == ["log_of_nonpositive"]


def test_nan_input_names_its_rows_when_recorded():
    one = ev("nonfinite_input", 8, count=1, numel=256, column=2, column_count=1, row=5, bad_rows=1)
    assert "(argument `input`, column 2, row 5, 1 of 256 values" in diagnose([one])[0].summary
    many = ev("nonfinite_input", 8, count=9, numel=256, row=5, bad_rows=4)
    assert "(argument `input`, row 5 and 3 more, 9 of 256 values" in diagnose([many])[0].summary


def test_transitive_chain_lr_too_high():
    """divergence -> exploding gradient -> Inf: one diagnosis, rooted on the curve, so only likely."""
    events = [ev("loss_divergence", 3, "warning", best_level=2.3, best_step=0, level=8e24),
              ev("exploding_gradient", 4, "warning", grad_norm=1e13),
              ev("nonfinite_loss", 6, value=float("inf")), ev("nonfinite_gradient", 6)]
    (diagnosis,) = diagnose(events)
    assert diagnosis.root.kind == "loss_divergence" and diagnosis.confidence == "likely"
    assert "`loss/train` diverged (2.3 -> 8e+24, steps 0-3)" in diagnosis.summary
    assert "`loss/train` Inf at step 6" in diagnosis.summary


def test_two_independent_problems_give_two_diagnoses_most_serious_first():
    events = [ev("frozen_parameters", 0, "warning"), ev("loss_plateau", 130, "warning"),
              ev("nonfinite_input", 200), ev("nonfinite_loss", 200, value=NAN)]
    assert roots(events) == ["nonfinite_input", "frozen_parameters"]


def test_same_severity_earliest_first():
    events = [ev("overfitting", 90, "warning"), ev("unnormalized_input", 0, "warning")]
    assert roots(events) == ["unnormalized_input", "overfitting"]


def test_a_chain_holding_an_error_outranks_a_warning_only_one():
    events = [ev("loss_oscillation", 10, "warning"), ev("softmax_before_cross_entropy", 20, "warning"),
              ev("missing_zero_grad", 1, rank=0)]
    assert roots(events) == ["missing_zero_grad", "softmax_before_cross_entropy"]
    events = [ev("softmax_before_cross_entropy", 0, "warning"), ev("loss_divergence", 10, "warning"),
              ev("nonfinite_loss", 20, value=NAN)]
    assert roots(events) == ["loss_divergence", "softmax_before_cross_entropy"]


def test_healthy_run_has_no_diagnosis():
    events = [ev("loss_spike", 50, "info"), ev("frozen_parameters", 0, "info")]
    assert diagnose(events) == [] and diagnose([]) == [] and describe(diagnose(events)) == ""


def test_ended_condition_is_not_a_root():
    plateau = ev("loss_plateau", 120, "warning")
    ended = ev("loss_plateau", 300, "info", ended=1.0, start_step=120, end_step=300)
    assert diagnose([plateau, ended]) == []
    later = ev("loss_plateau", 500, "warning")  # a new plateau after the span is standing again
    assert [d.root.step for d in diagnose([plateau, ended, later])] == [500]


def test_ended_condition_can_still_be_a_consequence():
    frozen, plateau = ev("frozen_parameters", 0, "warning"), ev("loss_plateau", 120, "warning")
    ended = ev("loss_plateau", 300, "info", ended=1.0, start_step=120, end_step=300)
    (diagnosis,) = diagnose([frozen, plateau, ended])
    assert diagnosis.consequences == (plateau,)


def test_tool_failure_is_not_a_diagnosis():
    assert diagnose([ev("diagnostic_failure", 3, "warning", tag="detector x")]) == []


def test_ranks_are_diagnosed_separately():
    """Rank 0's NaN input explains nothing on rank 1: a NaN on rank 1 is rank 1's root."""
    events = [ev("nonfinite_input", 8, rank=0), ev("nonfinite_loss", 8, rank=0, value=NAN),
              ev("loss_divergence", 3, "warning", rank=1), ev("nonfinite_loss", 5, rank=1, value=NAN)]
    found = diagnose(events)
    assert [(d.root.kind, d.root.rank) for d in found] == [("loss_divergence", 1), ("nonfinite_input", 0)]
    assert found[0].consequences == (events[3],) and found[0].summary.startswith("rank 1: ")


def test_the_same_root_on_every_rank_is_one_diagnosis():
    events = [ev("missing_zero_grad", 1, rank=r) for r in (2, 0, 1)] + [ev("exploding_gradient", 9, "warning", rank=2)]
    (diagnosis,) = diagnose(events)
    assert diagnosis.root.rank == 0
    assert sorted((e.rank, e.kind) for e in diagnosis.consequences) == [
        (1, "missing_zero_grad"), (2, "exploding_gradient"), (2, "missing_zero_grad")]
    assert diagnosis.summary.startswith("ranks 0, 1, 2: gradients of 0 parameters never zeroed (step 1)")
    assert "earlier ones -> gradient norm 0 at step 9 (rank 2). Fix:" in diagnosis.summary


def test_inferred_operand_root_is_likely_measured_is_certain():
    inferred = ev("log_of_nonpositive", 5, tag="loss/train", value=NAN)
    measured = ev("log_of_nonpositive", 5, minimum=-0.1, bad_values=3, values=64)
    assert diagnose([inferred])[0].confidence == "likely"
    assert diagnose([measured])[0].confidence == "certain"
    assert "a log of <= 0 in the forward graph (3 of 64 operands) at step 5" in diagnose([measured])[0].summary


def test_nll_on_probabilities_read_off_a_float_loss_is_a_likely_root_of_its_curve():
    """negative_loss names nll_loss on probabilities from a float loss's first values (a curve event):
    one diagnosis, rooted there as "likely", the negative loss and the stall its consequences."""
    events = [ev("negative_loss", 4, "warning", value=-0.05, first_max=-0.0496, first_min=-0.0586),
              dataclasses.replace(ev("nll_on_probabilities", 4, "warning", tag="loss/train", value=-0.05,
                                     first_max=-0.0496, first_min=-0.0586), category="curve"),
              ev("loss_plateau", 139, "warning", level=-0.055)]
    (diagnosis,) = diagnose(events)
    assert diagnosis.root.kind == "nll_on_probabilities" and diagnosis.confidence == "likely"
    assert diagnosis.summary.startswith(
        "nll_loss fed probabilities: `loss/train` is negative from its first value and within [-1, 0] "
        "(-0.0496 to -0.0586, step 4) -> `loss/train` stalls at -0.055 from step 139. Fix:")


def test_unknown_kind_is_its_own_root_with_a_readable_summary():
    (diagnosis,) = diagnose([ev("label_range", -1, tag="data/y", rank=0)])
    assert diagnosis.summary.startswith("label range in `data/y` before training")


def test_summary_names_a_loss_once():
    """An operand check read off a NaN loss is that loss: the chain does not name it twice."""
    events = [ev("log_of_nonpositive", 0, tag="loss/train", value=NAN), ev("nonfinite_loss", 0, value=NAN),
              ev("nonfinite_gradient", 0, parameters=1), ev("nonfinite_loss", 100, value=NAN)]
    assert diagnose(events)[0].summary == (
        "a log of <= 0 in the graph of `loss/train` makes it NaN at step 0 -> gradients of 1 parameter "
        "NaN/Inf at step 0. Fix: fix log_of_nonpositive")
    echo = [ev("nonfinite_gradient", 0, parameters=4), ev("division_by_zero", 1, tag="loss/train", value=NAN)]
    assert "-> `loss/train` NaN at step 1." in diagnose(echo)[0].summary


def test_nothing_learning_is_told_as_such():
    events = [ev("dead_activation", 10, "warning", dead_units=64, units=64, tag="module relu"),
              ev("frozen_parameters", 20, "warning", parameters=4, steps=20)]
    assert diagnose(events)[0].summary.startswith(
        "64 of 64 units of `relu` dead at step 10 -> nothing is learning: no parameter moved for 20 steps (step 20)")


def test_long_chain_counts_the_rest():
    events = [ev("nonfinite_input", 1)] + [ev("nonfinite_loss", 1, tag=f"loss/{i}", value=NAN) for i in range(6)]
    assert "-> 2 more. Fix:" in diagnose(events)[0].summary


def test_diagnoses_hold_the_given_event_objects():
    """The tab links consequences to their root by the events' identity."""
    events = [ev("nonfinite_loss", 8, value=NAN), ev("nonfinite_input", 8), ev("frozen_parameters", 0, "warning")]
    given = {id(e) for e in events}
    linked_ids = [id(x) for d in diagnose(events) for x in (d.root, *d.consequences)]
    assert sorted(linked_ids) == sorted(given)


def test_to_dict_is_json():
    (diagnosis,) = diagnose([ev("nonfinite_input", 8), ev("nonfinite_loss", 8, value=NAN)])
    data = json.loads(json.dumps(diagnosis.to_dict()))
    assert data["root"]["kind"] == "nonfinite_input"
    assert [c["evidence"]["value"] for c in data["consequences"]] == ["nan"]
    assert set(data) == {"root", "consequences", "confidence", "fix", "summary"}
    assert isinstance(diagnosis, Diagnosis)


def test_describe_names_the_root_then_the_others():
    events = [ev("nonfinite_loss", 8, value=NAN), ev("nonfinite_input", 8), ev("frozen_parameters", 0, "warning")]
    text = describe(diagnose(events))
    first, second = text.splitlines()
    assert first.startswith("Root cause (certain): NaN/Inf in the input data")
    assert second.startswith("Also (certain): 0 parameters never change (step 0)")
    assert describe([]) == ""
