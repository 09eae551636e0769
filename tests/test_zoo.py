"""The fault zoo: every script keeps its contract, coverage holds, and a sample is diagnosed right."""

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package

from benchmarks import detection  # noqa: E402

CURVE_KINDS = (
    "nonfinite_loss", "negative_loss", "loss_divergence", "loss_oscillation", "loss_plateau",
    "loss_spike", "overfitting",
)
MODEL_KINDS = (
    "nll_on_probabilities", "softmax_before_cross_entropy", "target_shape_mismatch", "division_by_zero",
    "log_of_nonpositive", "missing_zero_grad", "nonfinite_input", "nonfinite_activation",
    "nonfinite_gradient", "unnormalized_input", "exploding_gradient", "vanishing_gradient",
    "dead_activation", "saturated_activation", "frozen_parameters", "grad_scale_collapse",
)
# Quick ones the detectors get right today: four faults (one a curve condition) and two healthy controls.
SAMPLE = (
    "nll_on_softmax_sequential", "nan_in_csv_column", "zero_grad_once_per_epoch", "full_batch_lr_edge",
    "healthy_adam_cross_entropy", "healthy_gradscaler_skips",
)
SCENARIOS = {name: detection.load(name) for name in detection.names()}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_script_keeps_the_contract(name):
    """Each script has a one-line docstring, EXPECT, ONSET (None exactly when healthy), ALLOW, its root and run()."""
    module = SCENARIOS[name]
    assert module.__doc__ and len(module.__doc__.strip().splitlines()) == 1
    assert isinstance(module.EXPECT, tuple) and set(module.EXPECT) <= set(CURVE_KINDS + MODEL_KINDS)
    assert (module.ONSET is None) == (module.EXPECT == ())
    assert module.ONSET is None or isinstance(module.ONSET, int) and module.ONSET >= 0
    assert not set(getattr(module, "ALLOW", ())) & set(module.EXPECT)
    assert set(detection.roots(module)) <= set(CURVE_KINDS + MODEL_KINDS)
    assert bool(detection.roots(module)) == bool(module.EXPECT), "a faulty script names its root cause (# root:)"
    assert callable(module.run)
    defined = [a.name for a in ast.parse(pathlib.Path(module.__file__).read_text()).body
                if isinstance(a, ast.FunctionDef) and a.name == "run"]
    assert "run" in defined, "run() must be defined in the script itself"


def test_zoo_covers_every_kind():
    """At least 30 scenarios, 12 healthy, and every event kind expected by at least two."""
    assert len(SCENARIOS) >= 30
    assert sum(not m.EXPECT for m in SCENARIOS.values()) >= 12
    for kind in CURVE_KINDS + MODEL_KINDS:
        count = sum(kind in m.EXPECT for m in SCENARIOS.values())
        assert count >= 2, f"{kind} is expected by {count} scenario(s)"


@pytest.mark.parametrize("name", SAMPLE)
def test_sample_is_diagnosed(name, tmp_path):
    """Run in-process as detection.py runs it: every expected kind raised in time, no unexpected warning."""
    result = detection.evaluate(name, str(tmp_path))
    assert result.failure is None, result.failure
    assert result.missed == [], f"missed {result.missed}"
    assert result.late == [], f"{result.late} reported {result.steps_from_visible} steps after visible"
    assert result.false_alarms == {}, result.false_alarms


def test_a_scenario_that_wrote_nothing_is_a_failure_not_a_crash(tmp_path):
    """A script that timed out before its writer opened is reported as failed, the zoo run goes on."""
    result = detection.score("healthy_adam_cross_entropy", str(tmp_path / "never-created"), 60.0)
    assert not result.ok
    assert "wrote nothing" in result.failure
