"""What tb_lossdiag costs a training loop: step-time ratios, memory added, and writer throughput.

Three workloads sized like the references of the overhead issue and shared/design/performance-notes
(on this 2-core CPU: MLP 784-512-256-10 at batch 128 ~3-7 ms a step, CNN on 3x32x32 at batch 64
~20-40 ms, 2-layer transformer encoder on 32x64 tokens ~45-100 ms, as the shared machine allows).
Each workload trains ONE model, `--settle` steps first; then in rounds (a fresh random order each
round, so that machine noise hits all alike) every configuration gets a block of `--steps` steps
with its own writer and hooks attached to that model. Figures are medians over rounds of a block's
time divided by the SummaryWriter block's in the same round, for wall time and for the process's
CPU time. Configurations: bare loop; SummaryWriter logging the loss; DiagWriter logging it (swap-only
checks off); swap-only (DiagWriter's gradient checks found from the logged loss's graph) at a run's
start (a fresh run per block: the graph found, every 10th step sampled) and steady (a fresh run
trained `--swap-warmup` steps unmeasured first: sampling relaxed to 1 in 80, what a long run pays,
in blocks of STEADY_BLOCK steps, against SummaryWriter blocks as long);
watch() sampling no step (the every-step checks); watch() every 10 steps (how a run starts, and
where it returns after any alarm); everything every step; guard=True on the unsampled steps (what
the guard adds to a step); and a second SummaryWriter block, whose
ratio to the first (A/A) shows how far the machine's noise alone moves a ratio at the time.
watch() at its defaults, relaxed in a long calm run to 1 step in 80, is per round the unsampled
block plus 1/8 of what sampling every 10th step added to it. The accounting splits a step's cost
into parts (µs), a sampled step's taken from the every-step blocks; "every 10" derived from those
parts, beside the measured row, shows that a sampled step amid unsampled ones costs more.
Each ratio comes with a 95% bootstrap interval of its median; a target counts as met only when the
whole interval is within it. Peak memory added, each configuration in a fresh process against
the bare loop: tensors (torch's profiler) and Python objects (tracemalloc).
Run: `python benchmarks/overhead.py [--workloads mlp] [--threads 1] [--json PATH]`; `--steady-only` times only the
swap-only target (swap-only steady, its SummaryWriter reference and an A/A of it).
"""

import argparse
import collections
import gc
import json
import logging
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
import warnings

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from tb_lossdiag import DiagWriter, Event

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _mlp():
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    return model, (torch.randn(128, 784),), torch.randint(0, 10, (128,))


def _cnn():
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 10),
    )
    return model, (torch.randn(64, 3, 32, 32),), torch.randint(0, 10, (64,))


class _Transformer(nn.Module):
    """A 2-layer encoder classifying sequences of 64 tokens."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(1000, 128)
        layer = nn.TransformerEncoderLayer(128, 4, 256, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(128, 10)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


def _transformer():
    return _Transformer(), (torch.randint(0, 1000, (32, 64)),), torch.randint(0, 10, (32,))


WORKLOADS = {"mlp": _mlp, "cnn": _cnn, "transformer": _transformer}


# configuration -> watch() options
WATCH_OPTIONS = {
    "watch": {},  # the defaults (memory runs: a fresh process trains long enough to relax)
    "watch_unsampled": {"every": 10 ** 9},  # only the every-step checks: what most steps pay
    "watch_every10": {"max_every": 10},  # the start of a run, and after any alarm
    "everything": {"every": 1, "max_every": 1},
    "guard_unsampled": {"every": 10 ** 9, "guard": True},  # guard=True on top of the every-step checks
}
# Timed; "summarywriter_again" is a second SummaryWriter block: its ratio to the first (A/A) is the
# noise floor of the measure on the machine at the time.
# "summarywriter_steady" is a SummaryWriter block as long as a steady swap-only one, its reference: a
# block's first steps (caches cold after the switch) weigh less in a longer block.
CONFIGS = ("bare", "summarywriter", "summarywriter_again", "diagwriter", "watch_unsampled", "watch_every10",
           "everything", "guard_unsampled", "swaponly", "swaponly_steady", "summarywriter_steady")
# --steady-only: the row of the swap-only target, its reference, and an A/A of that reference
STEADY_CONFIGS = ("summarywriter_steady", "summarywriter_again_steady", "swaponly_steady")
# The block each ratio is taken against, if not summarywriter's.
REFERENCE = {"swaponly_steady": "summarywriter_steady", "summarywriter_again_steady": "summarywriter_steady"}
LABELS = {"watch_every10": "watch (every 10)", "watch": "watch (defaults)", "summarywriter_again": "A/A",
          "watch_unsampled": "unsampled steps", "everything": "every step sampled", "summarywriter": "SummaryWriter",
          "guard_unsampled": "guard (unsampled)", "swaponly": "swap-only (start)",
          "swaponly_steady": "swap-only (steady)", "summarywriter_again_steady": "A/A (steady)"}
RELAXED = 80  # the interval watch() relaxes to at its defaults (max_every = 8 x every)
# Steps a fresh swap-only run takes to relax its sampling from every 10th step to 1 in 80 (5 calm
# samples at each interval: 50 + 100 + 200 steps, and the detectors' deferred batches), with a margin.
SWAP_WARMUP = 500
# A steady swap-only block: a whole number of its sampling intervals (80) and of the loss detectors'
# deferred batches (diagnoser.DEFER_VALUES, 128), so that it holds as many sampled steps and batch
# flushes as any stretch of a long run of that length, whatever step it starts at (a 40-step block
# held none or all of them, by where the warm-up ended).
STEADY_BLOCK = 640


def block_steps(config: str, steps: int) -> int:
    """The steps of one measured block of `config` (`steps`, or STEADY_BLOCK for steady swap-only and
    its SummaryWriter reference)."""
    return max(steps, STEADY_BLOCK) if config.endswith("_steady") else steps


class Loop:
    """One configuration's model, optimizer and writer, stepping the same batch."""

    def __init__(self, workload, config, logdir):
        torch.manual_seed(0)
        self.model, self.inputs, self.target = WORKLOADS[workload]()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.loss_fn = nn.CrossEntropyLoss()
        self.step_index = 0
        self.writer = None
        if config == "summarywriter":
            self.writer = SummaryWriter(f"{logdir}/{workload}-{config}")
        elif config != "bare":
            # "diagwriter" is the writer alone; "swaponly" adds the gradient checks found from the
            # logged loss's graph (what a loop that only swaps the writer gets).
            self.writer = DiagWriter(f"{logdir}/{workload}-{config}", auto_watch=config == "swaponly")
            if config in WATCH_OPTIONS:
                self.writer.watch(self.model, self.optimizer, **WATCH_OPTIONS[config])

    def step(self):
        """One training step, logging the loss as a user would."""
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(*self.inputs), self.target)
        loss.backward()
        self.optimizer.step()
        if self.writer is not None:
            self.writer.add_scalar("loss/train", loss, self.step_index)
        self.step_index += 1

    def run(self, steps):
        for _ in range(steps):
            self.step()

    def snapshot(self):
        """Keep the model's and the optimizer's state as it is now, for restore()."""
        self._saved = [t.detach().clone() for t in self._state()]

    def restore(self):
        """Back to the snapshot(), in place: the same memory, so step times stay comparable."""
        with torch.no_grad():
            for tensor, saved in zip(self._state(), self._saved):
                tensor.copy_(saved)

    def _state(self):
        """The tensors training changes: parameters, buffers, and the optimizer's state."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        for state in self.optimizer.state.values():
            tensors += [value for value in state.values() if torch.is_tensor(value)]
        return tensors

    def close(self):
        if self.writer is not None:
            self.writer.close()


def swapped_blocks(workload, configs, rounds, settle, logdir, measure, swap_warmup=SWAP_WARMUP):
    """On ONE model, per round and configuration (a fresh order each round): attach that
    configuration's writer and hooks, train one step unmeasured, then `measure(config, loop)`.

    Separate model instances differ by up to ~10% here in step time alone (memory placement; an
    earlier version of this script gave DiagWriter 1.11x and watch, which includes it, 1.07x that
    way), so one model trains throughout and only its writer and hooks change between blocks.
    Returns the loop.
    """
    loop = Loop(workload, "bare", logdir)
    loop.run(settle)
    # Every block trains on from this same state. Trained on without it, through every round, the
    # one batch's loss fell to ~1e-7: fresh swap-only runs then met plateaus, vanishing gradients
    # and 10x jumps of near-zero gradients, alarms that sent their sampling back to every 10th step,
    # so the steady rows measured a run in alarm, not a calm one.
    loop.snapshot()
    writers = {"bare": None}
    for config in configs:
        kind = SummaryWriter if config.startswith("summarywriter") else DiagWriter
        # Swap-only hooks stay on the model until their writer closes: "swaponly" gets a fresh writer
        # per block, the others have them off.
        options = {} if kind is SummaryWriter else {"auto_watch": False}
        writers.setdefault(config, kind(f"{logdir}/{workload}-{config}", **options))
    order = random.Random(1)
    for round_index in range(rounds):
        # A fresh order each round: a configuration must not always run after the same other one.
        for config in order.sample(configs, len(configs)):
            loop.restore()
            loop.writer = writers[config]
            if config.startswith("swaponly"):  # a fresh run: sampling at its start (every 10)...
                loop.writer = DiagWriter(f"{logdir}/{workload}-{config}/{round_index}")
                if config == "swaponly_steady":
                    loop.run(swap_warmup)  # ...or relaxed, as a long run is
            handle = None
            if config in WATCH_OPTIONS:  # first_step=1: the unmeasured step 1 is an unsampled one
                handle = loop.writer.watch(loop.model, loop.optimizer, first_step=1, **WATCH_OPTIONS[config])
            loop.step()  # the first step after watch() is not a typical one
            measure(config, loop)
            if handle is not None:
                handle.remove()
            if config.startswith("swaponly"):
                loop.writer.close()
    for writer in writers.values():
        if writer is not None:
            writer.close()
    return loop


def time_workload(workload, rounds, steps, settle, logdir, swap_warmup=SWAP_WARMUP, configs=CONFIGS):
    """Per round, each configuration's (wall, process CPU) seconds per step on ONE model; and the
    tensor bytes watch() holds between steps (sampling every step, the most it ever holds; None
    unless "everything" is timed)."""
    times = {config: [] for config in configs}
    held = [None]

    def measure(config, loop):
        count = block_steps(config, steps)
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        loop.run(count)
        times[config].append(((time.perf_counter() - wall) / count, (time.process_time() - cpu) / count))
        if config == "everything" and held[0] is None:
            held[0] = _tensor_bytes_held(loop.writer)

    loop = swapped_blocks(workload, configs, rounds, settle, logdir, measure, swap_warmup)
    params = sum(p.numel() * p.element_size() for p in loop.model.parameters())
    return times, held[0], params


def accounting(costs):
    """What each part adds to a step (µs) and the ratios vs SummaryWriter it implies, from the
    per-step costs (seconds, or any unit) of the summarywriter, diagwriter, watch_unsampled and
    everything configurations: watch at interval N pays an unsampled step plus 1/N of the extra
    of a sampled one."""
    sw = costs["summarywriter"]
    diag = costs["diagwriter"] - sw
    hooks = costs["watch_unsampled"] - costs["diagwriter"]  # every step
    sampled = costs["everything"] - costs["watch_unsampled"]  # a sampled step, over an unsampled one
    return {
        "summarywriter_us": sw * 1e6, "diagwriter_added_us": diag * 1e6, "watch_every_step_us": hooks * 1e6,
        "sampled_step_us": sampled * 1e6,
        "diagwriter": 1 + diag / sw,
        "watch_every10": 1 + (diag + hooks + sampled / 10) / sw,
        "watch_every80": 1 + (diag + hooks + sampled / RELAXED) / sw,
    }


def paired(times, config, measure, reference="summarywriter"):
    """Median over rounds of `config`'s time / the `reference` loop's in the same round, and a
    95% bootstrap interval of that median: (median, low, high)."""
    ratios = [t[measure] / r[measure] for t, r in zip(times[config], times[reference])]
    return (statistics.median(ratios), *median_interval(ratios))


def median_interval(values, resamples=2000, seed=0):
    """95% percentile-bootstrap interval of the median of `values`: how far the machine's noise
    could have moved it (an interval inside a target shows the target met, not just its median)."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def with_defaults(times):
    """`times` plus "watch": per round, watch() at its defaults (1 step in 80 sampled) as the
    unsampled block plus 10/80 of what sampling 1 step in 10 added to it, so that it is paired
    with the SummaryWriter block like the rest. From the every-10 blocks, not the every-step
    ones: a sampled step amid unsampled ones costs more (its hooks and caches are cold)."""
    derived = [tuple(u + (e - u) * 10 / RELAXED for u, e in zip(unsampled, every10))
               for unsampled, every10 in zip(times["watch_unsampled"], times["watch_every10"])]
    return {**times, "watch": derived}


def _over_bare(workload, config, threads, then):
    """The number the Python statement `then` prints last for `config` minus that for the bare
    loop, each run in a fresh process after its `loop` trained 2 steps."""
    def run(which):
        code = (f"import benchmarks.overhead as o, tempfile, torch; torch.set_num_threads({threads}); "
                f"torch.set_flush_denormal(True); loop = o.Loop({workload!r}, {which!r}, tempfile.mkdtemp()); "
                f"loop.run(2); {then}")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
        return int(out.stdout.split()[-1])
    return run(config) - run("bare")


def peak_python_added(workload, config, steps, threads):
    """Peak bytes of Python objects allocated during `steps` steps of `config` (tracemalloc, all
    threads, fresh process), minus the bare loop's: the writer's queue, protobufs, detector state.

    Not RSS: here a fresh process's peak RSS moves by +-13 MiB between two runs of one
    configuration (allocator arenas of the writer's thread), hiding what is measured.
    """
    then = f"import tracemalloc; tracemalloc.start(); loop.run({steps}); print(tracemalloc.get_traced_memory()[1])"
    return _over_bare(workload, config, threads, then)


def tensor_peak(loop, steps=3):
    """Most bytes of tensors allocated during `steps` steps alive at one moment (torch's profiler).

    Exact, unlike RSS, which moves by MiBs with the allocator's choices. The profiler's event list
    is private API (`kineto_results`): its public FunctionEvents fold allocations into their ops.
    """
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
        loop.run(steps)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    allocated = collections.Counter()  # sizes of the blocks allocated in the window, not yet freed
    for event in sorted(events, key=lambda e: e.start_ns()):
        size = event.nbytes()
        if size < 0 and not allocated[-size]:
            continue  # a block allocated before the window (a gradient zero_grad frees)
        allocated[abs(size)] += 1 if size > 0 else -1
        live += size
        peak = max(peak, live)
    return peak


def peak_tensor_added(workload, config, threads):
    """Peak tensor bytes of `config`'s steps (`tensor_peak`, fresh process) minus the bare loop's."""
    return _over_bare(workload, config, threads, "print(o.tensor_peak(loop))")


def _tensor_bytes_held(root):
    """Bytes of tensors reachable from `root` (the writer and its watch hooks) between steps."""
    seen, stack, total = set(), [root], 0
    warnings.simplefilter("ignore", FutureWarning)  # isinstance() on deprecated torch aliases warns
    while stack:
        obj = stack.pop()
        # Parameters are the model's memory: a reference to one adds nothing.
        if id(obj) in seen or isinstance(obj, (nn.Module, nn.Parameter, torch.optim.Optimizer, type)):
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            total += obj.numel() * obj.element_size()
            continue
        if isinstance(obj, types.ModuleType):  # another module's globals are not the writer's
            continue
        if isinstance(obj, types.FunctionType):  # what a function holds itself, not its globals
            stack.extend(x for x in (obj.__closure__, obj.__defaults__, obj.__kwdefaults__) if x is not None)
            continue
        stack.extend(gc.get_referents(obj))
    return total


def writer_throughput(logdir, count=20_000):
    """Loss scalars and events per second a DiagWriter takes."""
    writer = DiagWriter(f"{logdir}/throughput")
    start = time.perf_counter()
    for step in range(count):
        writer.add_scalar("loss/train", 1.0 / (step + 1), step)
    scalars = count / (time.perf_counter() - start)
    events = [Event(i, "bench", "info", "loss", "m", "h") for i in range(count)]
    start = time.perf_counter()
    for i in range(0, count, 10):
        writer.record(events[i:i + 10])
    writer.flush()
    per_second = count / (time.perf_counter() - start)
    writer.close()
    return scalars, per_second


MEASURES = ("wall", "cpu")
# The overhead issue's targets, vs the same loop with a SummaryWriter (wall time).
TARGETS = {
    "diagwriter": {"mlp": 1.02, "cnn": 1.02, "transformer": 1.02},
    "watch": {"mlp": 1.05, "cnn": 1.03, "transformer": 1.03},
    "swaponly_steady": {"mlp": 1.03, "cnn": 1.03, "transformer": 1.03},
}


def verdict(ratio, target):
    """'met' when the ratio's whole interval is within target, 'missed' when it is all above."""
    _, low, high = ratio
    return "met" if high <= target else "missed" if low > target else "not shown"


def _interval(ratio):
    median, low, high = ratio
    return f"{median:.3f} ({low:.3f}-{high:.3f})"


def figures(times, held, params, tensor_memory, python_memory):
    """The JSON row of one workload: measured ratios, the accounting, and memory."""
    costs = {m: {c: statistics.median(t[i] for t in times[c]) for c in CONFIGS} for i, m in enumerate(MEASURES)}
    times = with_defaults(times)
    # Each ratio is [median, low, high] of its 95% interval.
    return {
        "summarywriter_ms": costs["wall"]["summarywriter"] * 1e3,
        "vs_summarywriter": {c: {m: paired(times, c, i, REFERENCE.get(c, "summarywriter")) for i, m in enumerate(MEASURES)}
                             for c in times},
        "vs_bare": {c: {m: paired(times, c, i, "bare") for i, m in enumerate(MEASURES)} for c in times},
        "accounting": {m: accounting(costs[m]) for m in MEASURES},
        "guard_added_us": {m: (costs[m]["guard_unsampled"] - costs[m]["watch_unsampled"]) * 1e6 for m in MEASURES},
        "tensor_bytes_held": held, "param_bytes": params,
        "peak_tensor_added_bytes": tensor_memory, "peak_python_added_bytes": python_memory,
        "seconds_per_step": {c: times[c] for c in CONFIGS},  # per round: (wall, process CPU)
    }


def steady_only(args):
    """--steady-only: the swap-only steady ratio and its A/A, wall and CPU, with the target's verdict."""
    results = {}
    with tempfile.TemporaryDirectory() as logdir:
        print(f"swap-only steady vs SummaryWriter blocks as long ({STEADY_BLOCK} steps, {args.threads} torch "
              f"thread(s)): median over {args.rounds} rounds (95% bootstrap interval)")
        for workload in args.workloads:
            times, _, _ = time_workload(workload, args.rounds, args.steps, args.settle, logdir, args.swap_warmup,
                                        STEADY_CONFIGS)
            reference = statistics.median(t[0] for t in times["summarywriter_steady"])
            row = results[workload] = {
                "summarywriter_ms": reference * 1e3,
                "vs_summarywriter": {c: {m: paired(times, c, i, REFERENCE[c]) for i, m in enumerate(MEASURES)}
                                     for c in STEADY_CONFIGS[1:]},
                "seconds_per_step": times}
            target = TARGETS["swaponly_steady"][workload]
            vs = row["vs_summarywriter"]
            print(f"{workload:<12} SW {reference * 1e3:.2f} ms; " + "; ".join(
                f"{LABELS[c]} wall {_interval(vs[c]['wall'])}, CPU {_interval(vs[c]['cpu'])}" for c in STEADY_CONFIGS[1:])
                + f"; target {target}: {verdict(vs['swaponly_steady']['wall'], target)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40,
                        help="steps per block: whole batches of the curve detectors (8) and of every-10 sampling")
    parser.add_argument("--settle", type=int, default=400, help="steps the model trains before timing")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--memory-steps", type=int, default=400,
                        help="steps per fresh process, long enough for watch() to relax (0: skip memory)")
    parser.add_argument("--swap-warmup", type=int, default=SWAP_WARMUP,
                        help="unmeasured steps of a fresh swap-only run before its steady block")
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--steady-only", action="store_true",
                        help="time only swap-only steady, its SummaryWriter reference and an A/A of that "
                             "reference: the 1.03 target, in a third of a full round's time")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # The loops train on one batch; near a loss of 0 gradients turn denormal and make steps 10x
    # slower at random: flush them to zero, as real training rarely meets them.
    torch.set_flush_denormal(True)
    # The writers that stay through the rounds see the loss go back up at every block's start
    # (Loop.restore()): their findings about that sawtooth are not the benchmark's output.
    logging.getLogger("tb_lossdiag").setLevel(logging.CRITICAL)
    if args.steady_only:
        return steady_only(args)
    results = {}
    shown = ("summarywriter_again", "diagwriter", "swaponly", "swaponly_steady", "watch", "watch_every10", "everything",
             "guard_unsampled")
    with tempfile.TemporaryDirectory() as logdir:
        print(f"vs SummaryWriter, wall time ({args.threads} torch thread(s)): median over {args.rounds} rounds of "
              "paired blocks on one model (95% bootstrap interval); watch (defaults) = the unsampled block "
              f"+ 10/{RELAXED} of what every-10 sampling adds to it")
        print(f"{'workload':<12} {'SW ms':>6} {'SW/bare':>8} " + " ".join(f"{LABELS.get(c, c):>19}" for c in shown))
        for workload in args.workloads:
            times, held, params = time_workload(workload, args.rounds, args.steps, args.settle, logdir, args.swap_warmup)
            # Tensor peaks: sampling every step shows the most any step adds.
            tensor_memory = {c: peak_tensor_added(workload, c, args.threads)
                             for c in ("diagwriter", "swaponly", "watch_unsampled", "everything")} if args.memory_steps else {}
            python_memory = {c: peak_python_added(workload, c, args.memory_steps, args.threads)
                             for c in ("summarywriter", "diagwriter", "swaponly", "watch")} if args.memory_steps else {}
            row = results[workload] = figures(times, held, params, tensor_memory, python_memory)
            vs = row["vs_summarywriter"]
            print(f"{workload:<12} {row['summarywriter_ms']:>6.2f} {row['vs_bare']['summarywriter']['wall'][0]:>8.3f} "
                  + " ".join(f"{_interval(vs[c]['wall']):>19}" for c in shown))
        print("\nvs SummaryWriter, process CPU time: " + "; ".join(
            f"{w}: " + ", ".join(f"{LABELS.get(c, c)} {results[w]['vs_summarywriter'][c]['cpu'][0]:.3f}" for c in shown)
            for w in args.workloads))
        print("vs the bare loop (wall): " + "; ".join(
            f"{w}: " + ", ".join(f"{LABELS.get(c, c)} {results[w]['vs_bare'][c]['wall'][0]:.3f}" for c in CONFIGS[1:])
            for w in args.workloads))
        print("\nTargets (met: the whole interval inside; missed: the whole interval above; else not shown):")
        for workload in args.workloads:
            print(f"{workload:<12} " + "; ".join(
                f"{LABELS.get(c, c)} <= {TARGETS[c][workload]}: "
                f"{verdict(results[workload]['vs_summarywriter'][c]['wall'], TARGETS[c][workload])}"
                for c in TARGETS))
        print("\nMemory over the bare loop: tensors tb_lossdiag holds between steps" + ("" if not args.memory_steps else
              "; the peak of tensor memory "
              "during steps (torch's profiler; sampling every step shows the most a step adds); the peak of Python "
              f"objects over {args.memory_steps} steps (tracemalloc; watch at its defaults)"))
        for workload in args.workloads:
            row = results[workload]
            peaks = "".join(f"; peak {what}: " + ", ".join(f"{LABELS.get(c, c)} {b / 1024:+.1f} KiB" for c, b in row[key].items())
                            for what, key in (("tensors", "peak_tensor_added_bytes"), ("Python", "peak_python_added_bytes"))
                            if row[key])
            print(f"{workload:<12} params {row['param_bytes'] / 1024:.0f} KiB, held {row['tensor_bytes_held'] / 1024:.0f} KiB"
                  + peaks)
        print("\nAccounting (µs of wall time a step; the same blocks):")
        print(f"{'workload':<12} {'SW µs':>8} {'+DiagWriter':>12} {'+hooks/step':>12} {'+sampled step':>14}"
              f" {'watch@10 derived':>17} {'measured':>9}")
        for workload in args.workloads:
            a = results[workload]["accounting"]["wall"]
            print(f"{workload:<12} {a['summarywriter_us']:>8.0f} {a['diagwriter_added_us']:>12.1f} "
                  f"{a['watch_every_step_us']:>12.1f} {a['sampled_step_us']:>14.0f} {a['watch_every10']:>17.3f}"
                  f" {results[workload]['vs_summarywriter']['watch_every10']['wall'][0]:>9.3f}")
        print("guard=True adds to an unsampled step (µs of wall time): " + "; ".join(
            f"{w}: {results[w]['guard_added_us']['wall']:.1f}" for w in args.workloads))
        scalars, events = writer_throughput(logdir)
        results["writer"] = {"loss_scalars_per_s": scalars, "events_per_s": events}
        print(f"writer: {scalars:,.0f} loss scalars/s diagnosed and written; {events:,.0f} events/s written")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
