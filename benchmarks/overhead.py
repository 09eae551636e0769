"""What tb_lossdiag costs a training loop: step-time ratios, memory added, and writer throughput.

Three workloads sized like the references of the overhead issue and shared/design/performance-notes
(on this 2-core CPU: MLP 784-512-256-10 at batch 128 ~3 ms a step, CNN on 3x32x32 at batch 64
~20 ms, 2-layer transformer encoder on 32x64 tokens ~45 ms) are timed in ONE process, the
configurations interleaved in rounds (a fresh random order each round) so that machine noise hits
them alike. Each round gives every configuration's time relative to the SummaryWriter loop run in
the same round; the figures are medians over rounds of those paired ratios, for wall time and for
the process's CPU time (which other processes on a shared machine barely move). Every loop trains
`--settle` steps first, so `watch` is timed once its sampling has relaxed as in a long healthy run;
`watch (every 10)` is the interval a run starts with and returns to after any alarm.
Peak memory added is the growth of the peak RSS over the bare loop, each configuration trained in
a fresh process. Run: `python benchmarks/overhead.py [--workloads mlp] [--json PATH]`.
"""

import argparse
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


# configuration -> watch() options (None: no watch)
WATCH_OPTIONS = {
    "watch": {},  # the defaults
    "watch_unsampled": {"every": 10 ** 9},  # only the every-step checks: what most steps pay
    "watch_every10": {"max_every": 10},  # the start of a run, and after any alarm
    "everything": {"every": 1, "max_every": 1},
}
CONFIGS = ("bare", "summarywriter", "diagwriter", "watch", "watch_every10", "everything")  # timed end to end
LABELS = {"watch_every10": "watch (every 10)"}


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
            self.writer = DiagWriter(f"{logdir}/{workload}-{config}")
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

    def close(self):
        if self.writer is not None:
            self.writer.close()


def time_workload(workload, rounds, steps, settle, logdir):
    """Per round, each configuration's (wall, CPU) seconds per step; the rounds interleave them."""
    loops = {config: Loop(workload, config, logdir) for config in CONFIGS}
    # Every loop trains the same steps before timing: the same model state costs the same (a
    # model that has memorized its batch steps ~40% slower here), and watch() has relaxed by then.
    for loop in loops.values():
        loop.run(settle)
    times = {config: [] for config in CONFIGS}
    order = random.Random(0)
    for _ in range(rounds):
        # A fresh order each round: a configuration must not always run after the same other one.
        for config in order.sample(CONFIGS, len(CONFIGS)):
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            loops[config].run(steps)
            times[config].append(((time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps))
    held = _tensor_bytes_held(loops["watch"].writer)
    params = sum(p.numel() * p.element_size() for p in loops["bare"].model.parameters())
    for loop in loops.values():
        loop.close()
    return times, held, params


ACCOUNTED = ("summarywriter", "diagwriter", "watch_unsampled", "everything")
ACCOUNTING_STEPS = 16  # per block: a whole number of the curve detectors' batches of 8 loss values


def swapped_blocks(workload, configs, rounds, settle, logdir, measure):
    """On ONE model, per round and configuration (a fresh order each round): attach that
    configuration's writer and hooks, train one step untimed, then `measure(config, loop)`.

    Separate model instances differ by up to ~10% here in step time alone (memory placement), so
    one model trains throughout and only its writer and hooks change between blocks.
    """
    loop = Loop(workload, "bare", logdir)
    loop.run(settle)
    writers = {"bare": None, "summarywriter": SummaryWriter(f"{logdir}/{workload}-acct-sw")}
    for config in configs:
        writers.setdefault(config, DiagWriter(f"{logdir}/{workload}-acct-{config}"))
    order = random.Random(1)
    for _ in range(rounds):
        for config in order.sample(configs, len(configs)):
            loop.writer = writers[config]
            handle = None
            if config in WATCH_OPTIONS:  # first_step=1: the unsampled one starts unsampled
                handle = loop.writer.watch(loop.model, loop.optimizer, first_step=1, **WATCH_OPTIONS[config])
            loop.step()  # outside the measure: the first step after watch() is not a typical one
            measure(config, loop)
            if handle is not None:
                handle.remove()
    for writer in writers.values():
        if writer is not None:
            writer.close()


def step_costs(workload, rounds, steps, settle, logdir):
    """Median main-thread CPU µs per step of each ACCOUNTED configuration, on ONE model.

    With one torch thread every op runs on the calling thread: its CPU time is the step's own work.
    """
    costs = {config: [] for config in ACCOUNTED}

    def measure(config, loop):
        # Whole blocks, not single steps: the curve detectors run once per 8 loss values, and
        # a per-step median would leave that step out.
        start = time.thread_time_ns()
        loop.run(steps)
        costs[config].append((time.thread_time_ns() - start) / 1e3 / steps)

    swapped_blocks(workload, ACCOUNTED, rounds, settle, logdir, measure)
    return {config: statistics.median(c) for config, c in costs.items()}


def accounting(costs):
    """What each part adds to a step (µs) and the ratios vs SummaryWriter it implies."""
    sw = costs["summarywriter"]
    diag = costs["diagwriter"] - sw
    hooks = costs["watch_unsampled"] - costs["diagwriter"]  # every step
    sampled = costs["everything"] - costs["watch_unsampled"]  # a sampled step, over an unsampled one
    return {
        "summarywriter_us": sw, "diagwriter_added_us": diag, "watch_every_step_us": hooks,
        "sampled_step_us": sampled,
        "diagwriter": 1 + diag / sw,
        "watch_every10": 1 + (diag + hooks + sampled / 10) / sw,
        "watch_every80": 1 + (diag + hooks + sampled / 80) / sw,
    }


def paired(times, config, measure):
    """Median over rounds of `config`'s time / the SummaryWriter loop's in the same round."""
    return statistics.median(t[measure] / sw[measure] for t, sw in zip(times[config], times["summarywriter"]))


def peak_rss_added(workload, config, steps, threads):
    """Peak RSS (KiB) over `steps` steps of `config` in a fresh process, minus the bare loop's.

    Linux's peak-RSS mark is reset after two warm-up steps (/proc/self/clear_refs), so import
    and set-up peaks do not hide what the training steps add.
    """
    def peak(which):
        code = (f"import benchmarks.overhead as o, tempfile, torch; torch.set_num_threads({threads}); "
                f"torch.set_flush_denormal(True); loop = o.Loop({workload!r}, {which!r}, tempfile.mkdtemp()); "
                "loop.run(2); open('/proc/self/clear_refs', 'w').write('5'); "
                f"loop.run({steps}); loop.close(); "
                "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
        return int(out.stdout.split()[-1])
    return peak(config) - peak("bare")


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--steps", type=int, default=10, help="steps per configuration per round")
    parser.add_argument("--settle", type=int, default=400,
                        help="steps every loop trains before timing (watch() relaxes to every 80 by step 350)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--memory-steps", type=int, default=40, help="steps per fresh process (0: skip memory)")
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # The loops train on one batch for thousands of steps; once its loss nears 0, gradients turn
    # denormal and make steps 10x slower at random: flush them to zero, as real training rarely meets them.
    torch.set_flush_denormal(True)
    logging.getLogger("tb_lossdiag").setLevel(logging.ERROR)  # one batch forever: a plateau, by design
    compared = CONFIGS[2:]
    results = {}
    with tempfile.TemporaryDirectory() as logdir:
        print("vs SummaryWriter: median over rounds of the paired ratio, wall time / process CPU time")
        print(f"{'workload':<12} {'SW ms':>6} {'SW/bare':>8} " + " ".join(f"{LABELS.get(c, c):>17}" for c in compared)
              + "   held/params   peak RSS added")
        for workload in args.workloads:
            times, held, params = time_workload(workload, args.rounds, args.steps, args.settle, logdir)
            memory = {c: peak_rss_added(workload, c, args.memory_steps, args.threads)
                      for c in CONFIGS[1:]} if args.memory_steps else {}
            sw_ms = statistics.median(t[0] for t in times["summarywriter"]) * 1e3
            row = {
                "summarywriter_ms": sw_ms,
                "summarywriter_vs_bare": {m: 1 / paired(times, "bare", i) for i, m in enumerate(("wall", "cpu"))},
                "vs_summarywriter": {c: {m: paired(times, c, i) for i, m in enumerate(("wall", "cpu"))}
                                     for c in compared},
                "tensor_bytes_held": held, "param_bytes": params, "peak_rss_added_kib": memory,
            }
            results[workload] = row
            vs = row["vs_summarywriter"]
            print(f"{workload:<12} {sw_ms:>6.2f} {row['summarywriter_vs_bare']['wall']:>8.3f} "
                  + " ".join(f"{vs[c]['wall']:>8.3f} / {vs[c]['cpu']:.3f}" for c in compared)
                  + f"   {held / 1024:.0f} KiB / {params / 1024:.0f} KiB"
                  + ("   " + ", ".join(f"{LABELS.get(c, c)} {kib / 1024:+.1f} MiB" for c, kib in memory.items())
                     if memory else ""))
        print("\nAccounting (one model, writers and hooks swapped between blocks; median main-thread CPU "
              "per step, 1 torch thread):")
        print(f"{'workload':<12} {'SW µs':>8} {'+DiagWriter':>12} {'+hooks/step':>12} {'+sampled step':>14}"
              f" {'diagwriter':>11} {'watch@10':>9} {'watch@80':>9}")
        torch.set_num_threads(1)
        for workload in args.workloads:
            a = accounting(step_costs(workload, args.rounds, ACCOUNTING_STEPS, args.settle, logdir))
            results[workload]["accounting"] = a
            print(f"{workload:<12} {a['summarywriter_us']:>8.0f} {a['diagwriter_added_us']:>12.1f} "
                  f"{a['watch_every_step_us']:>12.1f} {a['sampled_step_us']:>14.0f} {a['diagwriter']:>11.3f} "
                  f"{a['watch_every10']:>9.3f} {a['watch_every80']:>9.3f}")
        scalars, events = writer_throughput(logdir)
        results["writer"] = {"loss_scalars_per_s": scalars, "events_per_s": events}
        print(f"writer: {scalars:,.0f} loss scalars/s diagnosed and written; {events:,.0f} events/s written")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
