"""watch(guard=True) under DDP (torchrun, 2 ranks, gloo, CPU): a NaN in rank 1's shard only makes
every rank skip the same step, with no communication of tb_lossdiag's, and nobody waits."""

import os
import pathlib
import socket
import subprocess
import sys

import torch

import tb_lossdiag

SCRIPT = pathlib.Path(__file__).with_name("guard_ddp_script.py")
NAN_STEP = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_rank_skips_the_step_of_rank_1s_nan_batch(tmp_path):
    """Both ranks skip step 3 and end with the same finite weights (a hang fails the timeout);
    each rank keeps its own batch of that step in its own run."""
    logdir = tmp_path / "logs"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr", "127.0.0.1",
         "--master_port", str(_free_port()), str(SCRIPT), str(logdir), str(NAN_STEP)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
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
