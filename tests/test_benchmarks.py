"""benchmarks/overhead.py and instructions.py: the arithmetic behind the README's cost figures, and a smoke run."""

import json
import math
import pathlib
import sys

import pytest
import torch

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
    assert overhead.paired(times, "diagwriter", 0) == pytest.approx((1.02, 1.02, 1.02))
    assert overhead.paired(times, "diagwriter", 1) == pytest.approx((1.0, 1.0, 1.0))


def test_interval_of_a_median_widens_with_noise_and_decides_the_target():
    """Ratios scattered +-10% give an interval too wide to show a 1.02 target; the same centre
    with +-0.5% scatter shows it met; a ratio clearly above it shows it missed."""
    wide = [1.0 + 0.1 * ((i * 7) % 11 - 5) / 5 for i in range(25)]
    narrow = [1.0 + 0.005 * ((i * 7) % 11 - 5) / 5 for i in range(25)]
    _, low, high = overhead.paired({"a": [(x,) for x in wide], "b": [(1.0,)] * 25}, "a", 0, "b")
    assert low < 1.0 < 1.02 < high
    assert overhead.verdict((1.0, low, high), 1.02) == "not shown"
    narrow_ratio = overhead.paired({"a": [(x,) for x in narrow], "b": [(1.0,)] * 25}, "a", 0, "b")
    assert overhead.verdict(narrow_ratio, 1.02) == "met"
    assert overhead.verdict((1.06, 1.04, 1.08), 1.02) == "missed"


def test_watch_defaults_are_derived_per_round_from_the_unsampled_and_sampled_blocks():
    """Per round: the unsampled block plus 10/80 of what sampling every 10th step added."""
    times = {"watch_unsampled": [(1.0, 2.0), (3.0, 3.0)], "watch_every10": [(1.08, 2.0), (3.08, 3.0)]}
    derived = overhead.with_defaults(times)["watch"]
    assert [pytest.approx(r) for r in derived] == [(1.01, 2.0), (3.01, 3.0)]


def test_overhead_script_runs_end_to_end(tmp_path):
    """One tiny round of every configuration on the MLP: every figure is there and finite."""
    out = tmp_path / "overhead.json"
    assert overhead.main(["--workloads", "mlp", "--rounds", "1", "--steps", "8", "--settle", "2", "--swap-warmup", "4",
                          "--memory-steps", "0", "--threads", "1", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["mlp"]
    assert set(row["vs_summarywriter"]) == set(overhead.CONFIGS) | {"watch"}
    assert row["vs_summarywriter"]["summarywriter"]["wall"] == [1.0, 1.0, 1.0]
    assert all(math.isfinite(v) and v > 0 for c in row["vs_bare"].values() for r in c.values() for v in r)
    assert row["tensor_bytes_held"] == 0  # nothing of the model's outlives a step
    assert row["param_bytes"] == 4 * (784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10)


def test_steady_only_times_the_swap_only_target_and_its_noise(tmp_path, capsys):
    """--steady-only: swap-only steady and an A/A of its SummaryWriter reference, with the verdict."""
    out = tmp_path / "steady.json"
    assert overhead.main(["--workloads", "mlp", "--rounds", "1", "--settle", "2", "--swap-warmup", "4",
                          "--threads", "1", "--steady-only", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["mlp"]
    assert set(row["vs_summarywriter"]) == {"summarywriter_again_steady", "swaponly_steady"}
    assert all(math.isfinite(v) and v > 0 for c in row["vs_summarywriter"].values() for r in c.values() for v in r)
    assert "target 1.03: " in capsys.readouterr().out


def test_instruction_dumps_are_read_per_block_of_the_main_thread(tmp_path):
    """callgrind's per-thread dump files: only the main thread's (-01) count, per labelled block."""
    (tmp_path / "callgrind.out.7.1-01").write_text(
        "version: 1\ndesc: Trigger: Client Request: mlp diagwriter\nevents: Ir\nsummary: 8000\n")
    (tmp_path / "callgrind.out.7.1-02").write_text(
        "version: 1\ndesc: Trigger: Client Request: mlp diagwriter\nevents: Ir\nsummary: 999999\n")
    (tmp_path / "callgrind.out.7.2-01").write_text(
        "version: 1\ndesc: Trigger: Client Request: cnn bare\nevents: Ir\ntotals: 16000\n")
    assert instructions.read_dumps(str(tmp_path), steps=8) == {"mlp": {"diagwriter": 1000.0}, "cnn": {"bare": 2000.0}}


def test_tensor_peak_counts_what_a_step_allocates_and_not_what_it_frees_from_before():
    """3 steps each keeping a 1000-byte tensor and making a 4000-byte temporary peak at
    3 x 1000 + 4000 bytes; freeing a tensor made before the window lowers nothing."""
    older = [torch.empty(5000)]

    class Loop:
        kept = []

        def run(self, steps):
            older.clear()  # 20,000 bytes allocated before the window
            for _ in range(steps):
                self.kept.append(torch.empty(250))
                temporary = torch.empty(1000)
                del temporary

    assert overhead.tensor_peak(Loop(), steps=3) == 3 * 1000 + 4000


def test_a_sampled_step_adds_under_a_tenth_of_the_parameter_memory_at_its_peak():
    """The overhead issue's memory target, on the MLP, in fresh processes: tensors at the step's
    peak (a sampled step adds the most) and Python objects over 20 steps."""
    params = 4 * (784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10)
    assert 0 < overhead.peak_tensor_added("mlp", "everything", threads=1) < 0.1 * params
    assert overhead.peak_python_added("mlp", "watch", steps=20, threads=1) < 0.1 * params


def test_a_steady_swap_only_block_holds_whole_sampling_intervals_and_detector_batches():
    """The steady block's cost is a long run's mean only if it holds as many sampled steps (1 in 80)
    and loss-detector batches as any stretch of that length."""
    from tb_lossdiag.diagnoser import DEFER_VALUES
    assert overhead.STEADY_BLOCK % overhead.RELAXED == 0 and overhead.STEADY_BLOCK % DEFER_VALUES == 0


def test_every_block_trains_on_from_the_same_state_in_the_same_memory(tmp_path):
    """Loop.restore() brings the weights and Adam's state back to the snapshot, in place: every
    block starts from a loss a calm run has (not one driven to ~0 by all the rounds before), and
    step times stay comparable (the same tensors, the same memory)."""
    loop = overhead.Loop("mlp", "bare", str(tmp_path))
    loop.run(3)
    loop.snapshot()
    tensors = [*loop.model.parameters(), *(v for s in loop.optimizer.state.values() for v in s.values())]
    saved = [(t.data_ptr(), t.clone()) for t in tensors]
    loss = loop.loss_fn(loop.model(*loop.inputs), loop.target).item()
    loop.run(5)
    assert loop.loss_fn(loop.model(*loop.inputs), loop.target).item() < loss
    loop.restore()
    assert all(t.data_ptr() == ptr and torch.equal(t, value) for t, (ptr, value) in zip(tensors, saved))
    assert loop.loss_fn(loop.model(*loop.inputs), loop.target).item() == loss


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the script runs the whole check")
def test_the_gpu_check_says_it_needs_cuda_and_exits_2(capsys):
    """gpu_check.py on a machine without CUDA: a clear message and exit status 2, nothing run."""
    from benchmarks import gpu_check
    assert gpu_check.main(["--workloads", "mlp"]) == 2
    assert "no CUDA device here" in capsys.readouterr().err
