"""Sharded models under torchrun (2 ranks, gloo, CPU): FSDP2's fully_shard and tensor parallelism.
Every probe measures this rank's shard; the reader combines the ranks into the unsharded norms."""

import json
import math
import pathlib

import pytest

import tb_lossdiag
from tests.torchrun import torchrun

SCRIPT = pathlib.Path(__file__).with_name("fsdp_script.py")
NAN_STEP = 3  # rank 1's batch in the FSDP job; the script's reference covers the steps before it


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One torchrun run for every test here (it takes seconds): its runs by name, and rank 0's
    unsharded reference norms."""
    tmp = tmp_path_factory.mktemp("fsdp")
    logdir, reference = tmp / "logs", tmp / "reference.json"
    torchrun(SCRIPT, logdir, NAN_STEP, reference, timeout=300)
    runs = {run.run: run for run in tb_lossdiag.read_logdir(str(logdir))}
    return runs, json.loads(reference.read_text())


def test_every_probe_works_on_sharded_parameters(trained):
    """No probe fails on DTensors, in either job, on either rank (each a run of its own)."""
    runs, _ = trained
    assert set(runs) == {".", "rank1", "tp", "tp/rank1"}
    failures = [(name, e.tag, e.message) for name, run in runs.items() for e in run.events if e.kind == "diagnostic_failure"]
    assert failures == []


def test_nan_batch_on_rank_1_is_rank_1s_nonfinite_input(trained):
    """The bad batch is named on rank 1 at its step, with guard=True as its NaN's origin too; rank 0
    sees only the consequence."""
    runs, _ = trained
    rank1 = runs["rank1"].events
    assert {"nonfinite_input", "nonfinite_origin"} <= {e.kind for e in rank1 if e.step == NAN_STEP}
    assert all(e.rank == 1 for e in rank1)
    assert all(e.rank == 0 and e.kind != "nonfinite_input" for e in runs["."].events)


@pytest.mark.parametrize("job", ["fsdp", "tp"])
def test_combined_norms_are_the_unsharded_models(trained, job):
    """The reader's combined gradient norm, weight norm and update ratio equal, to float32
    tolerance, the same model's unsharded on the same data; a single rank's are its shard's."""
    runs, reference = trained
    run = runs["." if job == "fsdp" else "tp"]
    expected = reference[job]
    assert expected  # the steps compared
    for name in ("grad_norm", "weight_norm", "update_ratio"):
        combined = dict(run.combined["diag/job/" + name])
        for step, norms in expected.items():
            assert combined[int(step)] == pytest.approx(norms[name], rel=1e-5), (name, step)
    shard = dict(run.shards["grad_norm"])
    assert all(shard[int(step)] < 0.99 * norms["grad_norm"] for step, norms in expected.items())


def test_nan_gradient_makes_the_combined_norm_nan(trained):
    """A NaN in one rank's shard is a NaN of the job's norm at that step."""
    runs, _ = trained
    assert math.isnan(dict(runs["."].combined["diag/job/grad_norm"])[NAN_STEP])
