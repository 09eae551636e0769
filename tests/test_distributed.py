"""DDP under torchrun (2 ranks, gloo, CPU): every rank's events reach its own run, labelled by rank."""

import pathlib

import tb_lossdiag
from tests.torchrun import torchrun

SCRIPT = pathlib.Path(__file__).with_name("ddp_script.py")
NAN_STEP = 3



def test_nan_in_rank_1_shard_is_reported_in_rank_1_run(tmp_path):
    """Rank 1's NaN batch is an error event in run rank1 with rank 1; rank 0's run exists; no hang."""
    logdir = tmp_path / "logs"
    torchrun(SCRIPT, logdir, NAN_STEP, timeout=120)
    runs = {run.run: run for run in tb_lossdiag.read_logdir(str(logdir))}
    assert set(runs) == {".", "rank1"}
    rank1 = runs["rank1"].events
    assert min(event.step for event in rank1) == NAN_STEP
    assert {"nonfinite_input", "nonfinite_loss"} <= {event.kind for event in rank1 if event.step == NAN_STEP}
    assert all(event.rank == 1 for event in rank1)
    # Rank 0 sees only the all-reduced consequence (NaN gradients), never the bad batch itself.
    assert all(event.rank == 0 and event.kind != "nonfinite_input" for event in runs["."].events)
    # DDP's parameters are replicated: no shard records, never a sum over the ranks.
    assert all(not run.shards and not run.combined for run in runs.values())


def test_rank_log_dir_without_torch_distributed_is_the_log_dir():
    """A single-process script keeps its usual run directory."""
    assert tb_lossdiag.rank_log_dir("runs/exp") == "runs/exp"
