"""The public API is small and explicit: __all__ is exactly what users import."""

import pathlib
import re
import types

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
    public = {name for name, value in vars(tb_lossdiag).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
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
