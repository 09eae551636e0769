"""What tb_lossdiag costs a training step in instructions, counted by callgrind: no machine noise moves them.

Wall-time ratios on a shared 2-core machine swing by several percent between runs (overhead.py);
instruction counts of the same code and inputs repeat exactly, whatever else the machine runs. This
runs overhead.py's workloads under `valgrind --tool=callgrind` with instrumentation off until the
first measured block (torch's import alone would take minutes instrumented), and on ONE model per
workload counts the main thread's instructions in a block of steps for each configuration: bare,
SummaryWriter, DiagWriter, swap-only (DiagWriter's gradient checks from the logged loss's graph) at
a fresh run's start (every 10th step sampled) and steady (after overhead.SWAP_WARMUP uncounted steps:
1 in 80), watch() on a step it does not sample, and watch() sampling every step.
The ratios against SummaryWriter follow as in overhead.py's accounting: watch at interval N pays
the unsampled step plus 1/N of a sampled one. MKL runs its AVX kernels (MKL_CBWR=AVX: its AVX2 and
AVX-512 ones are ~100x slower under valgrind), so the model's matmuls take more instructions than
natively; the instructions added a step, printed too, do not depend on that. Instructions are not time (a cache miss costs more
than an add, and a real step's caches are cold from the model's own work): read them as a floor
beside overhead.py's wall-time figures, not instead of them.
Needs valgrind and gcc (the client-request header ships with valgrind). One torch thread.
Run: `python benchmarks/instructions.py [--workloads mlp] [--steps 40] [--json PATH]` (~3 min for the MLP).
"""

import argparse
import ctypes
import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is then importable as a package

CONFIGS = ("bare", "summarywriter", "diagwriter", "swaponly", "swaponly_steady", "watch_unsampled", "everything")
# The client requests callgrind answers; each is a no-op when not under valgrind.
CLIENT_SOURCE = r"""
#include <valgrind/callgrind.h>
int on_valgrind(void) { return RUNNING_ON_VALGRIND; }
void begin_block(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
/* Off again after each block: between blocks (a writer's setup, the step after it) nothing is counted,
   and uninstrumented code runs ~10x faster under valgrind. */
void end_block(const char *label) { CALLGRIND_DUMP_STATS_AT(label); CALLGRIND_STOP_INSTRUMENTATION; }
"""


def build_client(directory: str) -> str:
    """Compile the client-request library into `directory`; its path."""
    for tool in ("valgrind", "gcc"):
        if shutil.which(tool) is None:
            sys.exit(f"instructions.py needs {tool}: apt-get install -y valgrind gcc")
    source, library = os.path.join(directory, "client.c"), os.path.join(directory, "client.so")
    pathlib.Path(source).write_text(CLIENT_SOURCE)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", library, source], check=True)
    return library


def measure(workloads, steps, settle, library, logdir):
    """Under callgrind: one dump per (workload, configuration) block of `steps` steps."""
    import torch

    from benchmarks import overhead

    client = ctypes.CDLL(library)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    logging.getLogger("tb_lossdiag").setLevel(logging.ERROR)

    for workload in workloads:
        def block(config, loop, workload=workload):
            client.begin_block()
            loop.run(overhead.block_steps(config, steps))
            client.end_block(f"{workload} {config}".encode())

        # One round: counts repeat exactly, so one block per configuration is the measure.
        overhead.swapped_blocks(workload, CONFIGS, 1, settle, logdir, block)


def read_dumps(directory: str, steps: int) -> dict:
    """{workload: {config: instructions per step}} from callgrind's dumps of the main thread (a block
    is `steps` steps, a steady swap-only one overhead.STEADY_BLOCK)."""
    from benchmarks import overhead

    counts = {}
    for path in pathlib.Path(directory).glob("callgrind.out.*-01"):
        text = path.read_text(errors="replace")
        label = re.search(r"^desc: Trigger: Client Request: (\S+) (\S+)$", text, re.MULTILINE)
        total = re.search(r"^(?:totals|summary): (\d+)", text, re.MULTILINE)
        if label and total:
            counts.setdefault(label.group(1), {})[label.group(2)] = (int(total.group(1))
                                                                     / overhead.block_steps(label.group(2), steps))
    return counts


def main(argv=None):
    from benchmarks import overhead

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="*", default=list(overhead.WORKLOADS))
    # 40: whole batches of the curve detectors (8 values) and of the layer table (every 10th sample).
    parser.add_argument("--steps", type=int, default=40, help="steps per counted block")
    parser.add_argument("--settle", type=int, default=20, help="uncounted steps before the first block")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the run under valgrind: its library
    args = parser.parse_args(argv)
    if args.child:
        with tempfile.TemporaryDirectory() as logdir:
            measure(args.workloads, args.steps, args.settle, args.child, logdir)
        return 0
    with tempfile.TemporaryDirectory(prefix="callgrind-") as directory:
        library = build_client(directory)
        command = [
            # Only the main thread is counted (its dumps end in -01): the event-file writer's thread
            # writes records whenever it gets to them, so its work lands in whichever block runs
            # then, and it is SummaryWriter's own cost, the same for every configuration.
            "valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
            f"--callgrind-out-file={directory}/callgrind.out.%p",
            sys.executable, __file__, "--child", library, "--steps", str(args.steps),
            "--settle", str(args.settle), "--workloads", *args.workloads,
        ]
        # A fixed hash seed: set and dict orders, hence the counts, repeat from run to run. MKL's
        # AVX2/AVX-512 GEMM kernels run ~100x slower under valgrind than its AVX ones (MKL_CBWR=AVX:
        # a 784x512 matmul 2.8 s against 0.015 s, measured), which kept this from finishing: the
        # model's own matmuls then take more instructions than natively, so the SummaryWriter step
        # is printed beside the ratios (what tb_lossdiag adds is Python and op dispatch, no GEMM).
        env = {**os.environ, "PYTHONHASHSEED": "0", "MKL_CBWR": "AVX", "OMP_NUM_THREADS": "1"}
        subprocess.run(command, check=True, env=env, stderr=subprocess.DEVNULL)
        counts = read_dumps(directory, args.steps)
    results = {}
    print("instructions per training step (millions), 1 torch thread; ratios vs SummaryWriter")
    print(f"{'workload':<12} {'bare':>8} {'SW':>8} {'SW/bare':>8} {'diagwriter':>11} {'swap start':>10}"
          f" {'swap steady':>11} {'watch@10':>9} {'watch@80':>9} {'everything':>11}")
    for workload in args.workloads:
        c = counts[workload]
        ratios = {k: v for k, v in overhead.accounting(c).items() if not k.endswith("_us")}
        results[workload] = {"instructions_per_step": c, "vs_summarywriter": ratios}
        print(f"{workload:<12} {c['bare'] / 1e6:>8.2f} {c['summarywriter'] / 1e6:>8.2f} "
              f"{c['summarywriter'] / c['bare']:>8.3f} {ratios['diagwriter']:>11.4f} "
              f"{c['swaponly'] / c['summarywriter']:>10.4f} {c['swaponly_steady'] / c['summarywriter']:>11.4f} "
              f"{ratios['watch_every10']:>9.4f} {ratios['watch_every80']:>9.4f} "
              f"{c['everything'] / c['summarywriter']:>11.3f}")
        # What tb_lossdiag adds is the same whatever the model's matmuls cost (MKL_CBWR=AVX above):
        # in absolute counts it reads against any step, e.g. a native one.
        added = {config: c[config] - c["summarywriter"] for config in ("diagwriter", "swaponly", "swaponly_steady")}
        results[workload]["added_per_step"] = added
        print(f"{'':<12} added a step (thousands): " + ", ".join(f"{k} {v / 1e3:,.0f}" for k, v in added.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
