"""The real-world set: every script keeps its contract and runs (briefly), and the scoring is right."""

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package

from benchmarks import detection  # noqa: E402
from tb_lossdiag import Event  # noqa: E402
from tests.test_zoo import CURVE_KINDS, MODEL_KINDS  # noqa: E402

KINDS = set(CURVE_KINDS + MODEL_KINDS)
SCRIPTS = {name: detection.load(name, "realworld") for name in detection.names("realworld")}
SMOKE_STEPS = 3


def test_the_set_is_big_enough():
    """At least 20 scripts, at least 5 of them healthy originals, half watched and half swap-only."""
    assert len(SCRIPTS) >= 20
    assert sum(not m.EXPECT for m in SCRIPTS.values()) >= 5
    watched = sum(".watch(" in pathlib.Path(m.__file__).read_text() for m in SCRIPTS.values())
    assert len(SCRIPTS) / 3 <= watched <= 2 * len(SCRIPTS) / 3


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_keeps_the_contract(name):
    """A one-line docstring, a source line, roots exactly when faulty, known kinds, run(logdir, steps)."""
    module = SCRIPTS[name]
    text = pathlib.Path(module.__file__).read_text()
    assert module.__doc__ and len(module.__doc__.strip().splitlines()) == 1
    assert "\n# source: http" in text
    assert set(module.EXPECT) | set(getattr(module, "ALLOW", ())) <= KINDS
    assert set(detection.roots(module)) <= KINDS
    assert bool(detection.roots(module)) == bool(module.EXPECT)
    assert (module.ONSET is None) == (module.EXPECT == ())
    tree = ast.parse(text)
    run = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "run"]
    assert run and [a.arg for a in run[0].args.args] == ["logdir", "steps"]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_runs_in_smoke_mode(name, tmp_path):
    """Three steps of each script train and write a run without crashing."""
    SCRIPTS[name].run(str(tmp_path), steps=SMOKE_STEPS)
    assert any(tmp_path.rglob("*tfevents*"))


def _result(**fields):
    base = dict(name="x", doc="", expect=["negative_loss"], onset=0, found=[], missed=["negative_loss"],
                false_alarms={}, steps_to_detect={}, visible={}, steps_from_visible={}, seconds=1.0,
                set="realworld", roots=["nll_on_probabilities"], diagnosed=None)
    base.update(fields)
    return detection.Result(**base)


def test_root_lines_are_read_as_kinds(tmp_path, monkeypatch):
    """`# root:` lines give every kind they name, commas or spaces between them; none for a healthy script."""
    script = tmp_path / "s.py"
    script.write_text('"""Doc."""\n# root: exploding_gradient, nonfinite_activation\n# root: loss_divergence\n')
    module = type("M", (), {"__file__": str(script)})
    assert detection.roots(module) == ["exploding_gradient", "loss_divergence", "nonfinite_activation"]
    script.write_text('"""Healthy."""\n')
    assert detection.roots(module) == []


def test_root_accuracy_counts_only_faulty_runs_with_a_diagnosis():
    """Right and wrong first diagnoses count; healthy runs and a missing diagnosis module do not."""
    results = [
        _result(diagnosed="nll_on_probabilities"),
        _result(diagnosed="negative_loss"),
        _result(diagnosed=None),
        _result(expect=[], missed=[], roots=[], diagnosed="loss_plateau"),
    ]
    summary = detection.totals(results)
    assert (summary["root_correct"], summary["root_judged"]) == (1, 3)
    assert summary["root_accuracy"] == pytest.approx(1 / 3)
    assert summary["healthy_diagnosed"] == 1
    unavailable = detection.totals([_result(diagnosed=detection.NOT_AVAILABLE)])
    assert unavailable["root_accuracy"] is None and unavailable["healthy_diagnosed"] is None


def test_false_alarm_kinds_and_recall_per_set():
    """Recall counts expected kinds found; false-alarm kinds are listed once each."""
    results = [
        _result(found=["negative_loss"], missed=[], false_alarms={"loss_plateau": "m"}),
        _result(expect=[], missed=[], roots=[], false_alarms={"loss_plateau": "m", "loss_spike": "m"}),
    ]
    summary = detection.totals(results)
    assert summary["recall"] == 1.0
    assert summary["false_alarm_kinds"] == ["loss_plateau", "loss_spike"]
    assert summary["healthy_flagged"] == 1


def test_first_diagnosis_names_the_root_of_a_nan_in_the_data():
    """With the diagnosis module present, a NaN input explains the NaN loss of its step: it is the root."""
    events = [
        Event(step=8, kind="nonfinite_loss", severity="error", tag="loss", message="m", hint="h"),
        Event(step=8, kind="nonfinite_input", severity="error", tag="loss", message="m", hint="h", category="data"),
    ]
    root = detection.first_diagnosis(events)
    if root == detection.NOT_AVAILABLE:
        pytest.skip("tb_lossdiag.diagnosis is not there yet")
    assert root == "nonfinite_input"


def test_where_an_expected_nan_was_born_is_no_false_alarm(tmp_path, monkeypatch):
    """nonfinite_origin beside an expected NaN kind is a detail of that finding; in a script that
    expects no NaN it is a false alarm."""
    origin = Event(step=0, kind="nonfinite_origin", severity="error", tag="input x", message="born", hint="h")
    run = type("Run", (), {"events": [origin], "curves": {}})
    monkeypatch.setattr(detection, "read_logdir", lambda logdir, loss_tags: [run])
    for expect, alarms in ((("nonfinite_input",), {}), (("loss_plateau",), {"nonfinite_origin": "born"})):
        module = type("M", (), {"EXPECT": expect, "ONSET": 0, "__doc__": "d", "__file__": __file__})
        monkeypatch.setattr(detection, "load", lambda name, which, module=module: module)
        assert detection.score("x", str(tmp_path), 1.0, which="realworld").false_alarms == alarms, expect


def test_a_root_at_the_nans_birthplace_is_scored_as_the_finding_there():
    """A diagnosis rooted at nonfinite_origin in a module is scored as nonfinite_activation (the kind that
    reports NaN at that place), in the input batch as nonfinite_input."""
    for place, kind in (("module", "nonfinite_activation"), ("input", "nonfinite_input")):
        origin = Event(step=3, kind="nonfinite_origin", severity="error", tag=f"{place} x", message="born",
                       hint="h", evidence={place: 1.0})
        loss = Event(step=3, kind="nonfinite_loss", severity="error", tag="loss", message="m", hint="h")
        assert detection.first_diagnosis([loss, origin]) == kind, place
