"""watch(guard=True) under DDP (torchrun, 2 ranks, gloo, CPU): a NaN in rank 1's shard only makes
every rank skip the same step, with no communication of tb_lossdiag's, and nobody waits."""

import os
import pathlib

import torch

import tb_lossdiag
from tests.torchrun import torchrun

SCRIPT = pathlib.Path(__file__).with_name("guard_ddp_script.py")
NAN_STEP = 3



def test_every_rank_skips_the_step_of_rank_1s_nan_batch(tmp_path):
    """Both ranks skip step 3 and end with the same finite weights (a hang fails the timeout);
    each rank keeps its own batch of that step in its own run."""
    logdir = tmp_path / "logs"
    torchrun(SCRIPT, logdir, NAN_STEP, timeout=120)
    runs = {run.run: run for run in tb_lossdiag.read_logdir(str(logdir))}
    assert set(runs) == {".", "rank1"}
    for name, rank in ((".", 0), ("rank1", 1)):
        skipped = [e for e in runs[name].events if e.kind == "skipped_step"]
        assert [(e.step, e.rank) for e in skipped] == [(NAN_STEP, rank)]
        assert os.path.exists(logdir / name / "lossdiag" / f"batch-{NAN_STEP}.pt")
    rank0, rank1 = (torch.load(logdir / name / "weights.pt") for name in (".", "rank1"))
    for key, value in rank0.items():
        assert torch.isfinite(value.float()).all(), key
        if "running" not in key:  # BatchNorm statistics are each rank's own (broadcast at the next forward)
            assert torch.equal(value, rank1[key]), key
