"""The public API is small and explicit: __all__ is exactly what users import."""

import pathlib
import re
import subprocess
import sys
import types

import pytest

import torch
import torch.nn.functional as F

import tb_lossdiag
from tb_lossdiag import DiagWriter, Detector, StepStats

PUBLIC = [
    "DiagWriter",
    "DiagnosticError",
    "Detector",
    "Event",
    "LossPoint",
    "RunEvents",
    "StepStats",
    "check_dataframe",
    "default_detectors",
    "rank_log_dir",
    "read_logdir",
]


def test_all_is_the_documented_public_api():
    """Adding or removing a public name is a deliberate change to this list and the README."""
    assert tb_lossdiag.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(tb_lossdiag, name) is not None


def test_all_is_every_public_name_of_the_package():
    """Nothing public is importable from tb_lossdiag without being in __all__ (submodules aside)."""
    # dir(): the names imported on first use are listed before they are imported.
    public = {name for name in dir(tb_lossdiag)
              if not name.startswith("_") and not isinstance(getattr(tb_lossdiag, name), types.ModuleType)}
    assert sorted(tb_lossdiag.__all__) == sorted(public)
    assert len(set(tb_lossdiag.__all__)) == len(tb_lossdiag.__all__)


def test_a_custom_step_detector_receives_step_stats(logdir):
    """StepStats is what a user's own on_step detector is handed, so it is public."""
    seen = []

    class Steps(Detector):
        id = "steps"

        def on_step(self, stats):
            seen.append(stats)
            return []

    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with DiagWriter(logdir, detectors=[Steps()]) as writer:
        writer.watch(model, optimizer, every=1)
        for _ in range(2):
            optimizer.zero_grad()
            F.cross_entropy(model(torch.randn(8, 4)), torch.zeros(8, dtype=torch.long)).backward()
            optimizer.step()
    assert [s.step for s in seen] == [0, 1] and all(isinstance(s, StepStats) for s in seen)


def test_one_version_string():
    """setup.py takes the version from tb_lossdiag.__version__, the only place it is written."""
    setup = (pathlib.Path(__file__).resolve().parents[1] / "setup.py").read_text(encoding="utf-8")
    assert not re.search(r"version=\"\d", setup)
    assert re.fullmatch(r"\d+\.\d+\.\d+", tb_lossdiag.__version__)


def test_unknown_names_fail_as_for_any_module():
    with pytest.raises(AttributeError, match="no attribute 'DiagWritr'"):
        getattr(tb_lossdiag, "DiagWritr")


def test_importing_the_package_and_reporting_need_no_torch(logdir):
    """`import tb_lossdiag` and `tb-lossdiag report` do not import torch (seconds on a small machine)."""
    with DiagWriter(logdir) as writer:
        writer.add_scalar("loss", float("nan"), 3)
    code = (
        "import sys, tb_lossdiag\n"
        "from tb_lossdiag.cli import main\n"
        f"status = main(['report', {str(logdir)!r}])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "torch was imported" not in done.stderr and "nonfinite_loss" in done.stdout
