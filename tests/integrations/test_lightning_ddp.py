"""LossDiagCallback under Lightning DDP (torchrun, 2 ranks, gloo, CPU): each rank diagnoses its own shard."""

import pathlib
import socket
import subprocess
import sys

from tb_lossdiag import read_logdir

SCRIPT = pathlib.Path(__file__).with_name("lightning_ddp_script.py")
NAN_STEP = 3
RUN = "lightning_logs/version_0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_rank_1_nan_batch_is_in_its_own_run_below_the_loggers(tmp_path):
    """Rank 1's NaN batch: nonfinite_input in run <logger run>/rank1; rank 0's run is the logger's."""
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr", "127.0.0.1",
         "--master_port", str(_free_port()), str(SCRIPT), str(tmp_path), str(NAN_STEP)],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = {run.run: run for run in read_logdir(str(tmp_path))}
    assert set(runs) == {RUN, f"{RUN}/rank1"}
    rank1 = runs[f"{RUN}/rank1"].events
    assert ("nonfinite_input", NAN_STEP, 1) in {(event.kind, event.step, event.rank) for event in rank1}
    assert all(event.rank == 0 and event.kind != "nonfinite_input" for event in runs[RUN].events)
