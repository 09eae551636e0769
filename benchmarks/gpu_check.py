"""On a CUDA device: the host syncs a training step makes with each writer, and its step time.

tb_lossdiag promises no host sync of its own on an accelerator: every statistic stays on the
device and is read with the loss value, in the one transfer SummaryWriter makes for it anyway. This
counts the synchronizing calls of every step with torch's sync debug mode (it warns at each one,
naming the Python line that made it), for overhead.py's workloads moved to the GPU, in blocks of
`--steps` steps: SummaryWriter, DiagWriter alone, swap-only (DiagWriter's checks found from the
logged loss's graph) after overhead.SWAP_WARMUP steps, and watch() at its defaults after as many.
Then, with the debug mode off, the same configurations' step times in rounds of paired blocks, as
medians of the block's time over the SummaryWriter block's. Every block, counted or timed, runs on
ONE model restored to one state before it (overhead.Loop.restore()). No sync is added to time a block but the one that ends
it (torch.cuda.synchronize()).
Run: `python benchmarks/gpu_check.py [--workloads mlp] [--rounds 10] [--json PATH]`; without CUDA it
says so and exits 2.
"""

import argparse
import collections
import json
import logging
import pathlib
import random
import statistics
import sys
import tempfile
import time
import warnings

import torch
from torch.utils.tensorboard import SummaryWriter

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is then importable as a package

from benchmarks import overhead
from tb_lossdiag import DiagWriter

CONFIGS = ("summarywriter", "diagwriter", "swaponly_steady", "watch")


def attach(loop, config: str, logdir: str) -> None:
    """Back to the snapshot, then a fresh writer for `config` on `loop`'s model (watch() attached for
    "watch"), trained past its warm-up: a run's start for swap-only and watch() is SWAP_WARMUP steps."""
    loop.restore()
    if config == "summarywriter":
        loop.writer = SummaryWriter(logdir)
    else:
        loop.writer = DiagWriter(logdir, auto_watch=config == "swaponly_steady")
        if config == "watch":
            loop.writer.watch(loop.model, loop.optimizer)
    loop.run(overhead.SWAP_WARMUP if config in ("swaponly_steady", "watch") else 2)
    torch.cuda.synchronize()


def on_device(workload: str, settle: int, logdir: str):
    """overhead.py's loop for `workload` on the GPU, trained `settle` steps, its state kept for restore()."""
    loop = overhead.Loop(workload, "bare", logdir)  # built on CPU, not stepped yet
    loop.model.to("cuda")
    loop.inputs = tuple(t.to("cuda") for t in loop.inputs)
    loop.target = loop.target.to("cuda")
    loop.optimizer = torch.optim.Adam(loop.model.parameters(), lr=1e-4)
    loop.run(settle)
    loop.snapshot()
    return loop


def count_syncs(loop, steps: int):
    """(synchronizing calls per step, {where: count}) over `steps` steps of `loop`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            loop.run(steps)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    where = collections.Counter(f"{pathlib.Path(w.filename).name}:{w.lineno}" for w in syncs)
    return len(syncs) / steps, dict(where.most_common())


def syncs_per_config(loop, steps: int, logdir: str):
    """Each configuration's syncs per step, in a fresh writer after its warm-up steps."""
    result = {}
    for config in CONFIGS:
        attach(loop, config, f"{logdir}/{config}-syncs")
        result[config] = count_syncs(loop, steps)
        loop.writer.close()
    return result


def step_times(loop, rounds: int, steps: int, logdir: str):
    """Per configuration, per round, seconds per step of a block on `loop`'s one model."""
    times = {config: [] for config in CONFIGS}
    order = random.Random(1)
    for round_index in range(rounds):
        for config in order.sample(CONFIGS, len(CONFIGS)):
            attach(loop, config, f"{logdir}/{config}/{round_index}")
            start = time.perf_counter()
            loop.run(steps)
            torch.cuda.synchronize()
            times[config].append((time.perf_counter() - start) / steps)
            loop.writer.close()
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="*", default=list(overhead.WORKLOADS))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=overhead.STEADY_BLOCK, help="steps per block")
    parser.add_argument("--settle", type=int, default=100, help="steps the model trains before timing")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a machine with one", file=sys.stderr)
        return 2
    logging.getLogger("tb_lossdiag").setLevel(logging.CRITICAL)  # findings of a looped batch are not the output
    results = {}
    with tempfile.TemporaryDirectory() as logdir:
        for workload in args.workloads:
            loop = on_device(workload, args.settle, logdir)
            syncs = syncs_per_config(loop, args.steps, f"{logdir}/{workload}")
            times = step_times(loop, args.rounds, args.steps, f"{logdir}/{workload}")
            ratios = {c: [t / s for t, s in zip(times[c], times["summarywriter"])] for c in CONFIGS}
            results[workload] = {
                "summarywriter_ms": statistics.median(times["summarywriter"]) * 1e3,
                "syncs_per_step": {c: syncs[c][0] for c in CONFIGS},
                "sync_sites": {c: syncs[c][1] for c in CONFIGS},
                "vs_summarywriter": {c: (statistics.median(r), *overhead.median_interval(r)) for c, r in ratios.items()},
            }
            row = results[workload]
            print(f"{workload}: {torch.cuda.get_device_name()}, SummaryWriter step {row['summarywriter_ms']:.3f} ms")
            for c in CONFIGS:
                median, low, high = row["vs_summarywriter"][c]
                print(f"  {c:16s} syncs/step {row['syncs_per_step'][c]:.3f}  time {median:.3f} ({low:.3f}-{high:.3f})"
                      f"  sync sites {row['sync_sites'][c]}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
