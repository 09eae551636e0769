"""Every script in examples/ runs as its docstring says and leaves the findings it promises."""

import os
import pathlib
import runpy
import sys

import pytest

from tb_lossdiag import read_logdir
from tests.torchrun import torchrun

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"



def _findings(logdir):
    """{(run, kind, step)} of every event below logdir."""
    return {(run.run, event.kind, event.step) for run in read_logdir(str(logdir)) for event in run.events}


@pytest.mark.parametrize("script, top, kinds", [
    ("plain_pytorch.py", ".", {"nonfinite_input", "nonfinite_loss"}),
    ("lightning_callback.py", "lightning_logs", {"loss_divergence", "exploding_gradient"}),
    ("huggingface_trainer.py", "runs", {"nonfinite_input"}),
    ("scan_existing_logs.py", ".", {"loss_divergence", "nonfinite_loss"}),
])
def test_example_writes_its_findings(script, top, kinds, tmp_path, monkeypatch):
    """`python examples/<script> LOGDIR` (run in this interpreter): its run below `top` holds the promised kinds."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the Trainer example downloads nothing
    monkeypatch.setattr(sys, "argv", [script, str(tmp_path)])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert kinds <= {kind for run, kind, _ in _findings(tmp_path) if run.split(os.sep)[0] == top}


def test_ddp_example_finds_rank_1_nan_in_run_rank1(tmp_path):
    """torchrun --nproc_per_node=2 examples/ddp_torchrun.py LOGDIR: rank 1's NaN batch, in run rank1."""
    torchrun(EXAMPLES / "ddp_torchrun.py", tmp_path, timeout=180)
    assert ("rank1", "nonfinite_input", 3) in _findings(tmp_path)
