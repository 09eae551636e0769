"""benchmarks/overhead.py and instructions.py: the arithmetic behind the README's cost figures, and a smoke run."""

import json
import math
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package

from benchmarks import instructions, overhead  # noqa: E402


def test_watch_at_interval_n_pays_an_unsampled_step_and_one_nth_of_a_sampled_one():
    """SummaryWriter 100, DiagWriter +1, hooks +2, a sampled step +80 over an unsampled one."""
    a = overhead.accounting({"summarywriter": 100.0, "diagwriter": 101.0, "watch_unsampled": 103.0,
                             "everything": 183.0})
    assert a["diagwriter"] == pytest.approx(1.01)
    assert a["watch_every80"] == pytest.approx(1 + (1 + 2 + 80 / 80) / 100)
    assert a["watch_every10"] == pytest.approx(1 + (1 + 2 + 80 / 10) / 100)
    assert a["sampled_step_us"] == pytest.approx(80e6)


def test_paired_ratios_cancel_what_a_round_shares():
    """A round that is 3x slower for everyone leaves the paired ratio unchanged."""
    times = {"summarywriter": [(1.0, 1.0), (3.0, 3.0), (1.0, 1.0)], "diagwriter": [(1.02, 1.0), (3.06, 3.0), (1.02, 1.0)]}
    assert overhead.paired(times, "diagwriter", 0) == pytest.approx(1.02)
    assert overhead.paired(times, "diagwriter", 1) == pytest.approx(1.0)


def test_overhead_script_runs_end_to_end(tmp_path):
    """One tiny round of every configuration on the MLP: every figure is there and finite."""
    out = tmp_path / "overhead.json"
    assert overhead.main(["--workloads", "mlp", "--rounds", "1", "--steps", "8", "--settle", "2",
                          "--memory-steps", "0", "--threads", "1", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["mlp"]
    assert set(row["vs_summarywriter"]) == set(overhead.CONFIGS)
    assert row["vs_summarywriter"]["summarywriter"]["wall"] == 1.0
    assert all(math.isfinite(v) and v > 0 for c in row["vs_bare"].values() for v in c.values())
    assert row["tensor_bytes_held"] == 0  # nothing of the model's outlives a step
    assert row["param_bytes"] == 4 * (784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10)


def test_instruction_dumps_are_read_per_block_of_the_main_thread(tmp_path):
    """callgrind's per-thread dump files: only the main thread's (-01) count, per labelled block."""
    (tmp_path / "callgrind.out.7.1-01").write_text(
        "version: 1\ndesc: Trigger: Client Request: mlp diagwriter\nevents: Ir\nsummary: 8000\n")
    (tmp_path / "callgrind.out.7.1-02").write_text(
        "version: 1\ndesc: Trigger: Client Request: mlp diagwriter\nevents: Ir\nsummary: 999999\n")
    (tmp_path / "callgrind.out.7.2-01").write_text(
        "version: 1\ndesc: Trigger: Client Request: cnn bare\nevents: Ir\ntotals: 16000\n")
    assert instructions.read_dumps(str(tmp_path), steps=8) == {"mlp": {"diagwriter": 1000.0}, "cnn": {"bare": 2000.0}}
