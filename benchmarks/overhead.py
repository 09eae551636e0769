"""What tb_lossdiag costs a training loop: step-time ratios, memory held, and writer throughput.

Three workloads sized like the references of the overhead issue and shared/design/performance-notes
(on this 2-core CPU: MLP 784-512-256-10 at batch 128 ~4 ms a step, CNN on 3x32x32 at batch 64
~32 ms, 2-layer transformer encoder on 32x64 tokens ~55 ms) are timed
in ONE process, configurations interleaved block by block so that machine noise hits them alike.
Ratios are medians of block times against the bare loop. Run: `python benchmarks/overhead.py`.
"""

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from tb_lossdiag import DiagWriter, Event


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


class Loop:
    """One configuration's model, optimizer and writer, stepping the same batch."""

    def __init__(self, workload, config, logdir):
        torch.manual_seed(0)
        self.model, self.inputs, self.target = WORKLOADS[workload]()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.loss_fn = nn.CrossEntropyLoss()
        self.config = config
        self.step_index = 0
        self.writer = None
        if config == "summarywriter":
            self.writer = SummaryWriter(f"{logdir}/{workload}-{config}")
        elif config != "bare":
            self.writer = DiagWriter(f"{logdir}/{workload}-{config}")
            if config == "watch":
                self.writer.watch(self.model, self.optimizer)
            elif config == "everything":
                self.writer.watch(self.model, self.optimizer, every=1)

    def step(self):
        """One training step, logging the loss as a user would."""
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(*self.inputs), self.target)
        loss.backward()
        self.optimizer.step()
        if self.writer is not None:
            self.writer.add_scalar("loss/train", loss, self.step_index)
        self.step_index += 1

    def close(self):
        if self.writer is not None:
            self.writer.close()


CONFIGS = ("bare", "summarywriter", "diagwriter", "watch", "everything")


def time_workload(workload, blocks, steps, logdir):
    """Seconds per step of each configuration in every block, blocks interleaved."""
    loops = {config: Loop(workload, config, logdir) for config in CONFIGS}
    for loop in loops.values():  # warm up allocators, autograd and the writers
        for _ in range(steps):
            loop.step()
    times = {config: [] for config in CONFIGS}
    order = random.Random(0)
    for _ in range(blocks):
        # A fresh order each round: a configuration must not always run after the same other one.
        for config in order.sample(CONFIGS, len(CONFIGS)):
            loop = loops[config]
            gc.collect()
            start = time.perf_counter()
            for _ in range(steps):
                loop.step()
            times[config].append((time.perf_counter() - start) / steps)
    held = _tensor_bytes_held(loops["watch"].writer)
    params = sum(p.numel() * p.element_size() for p in loops["bare"].model.parameters())
    for loop in loops.values():
        loop.close()
    return times, held, params


def _tensor_bytes_held(root):
    """Bytes of tensors reachable from `root` (the writer and its watch hooks) between steps."""
    seen, stack, total = set(), [root], 0
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
    parser.add_argument("--blocks", type=int, default=25)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed block")
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    # The loops train on one batch for thousands of steps; once its loss nears 0, gradients turn
    # denormal and make steps 10x slower at random: flush them to zero, as real training rarely meets them.
    torch.set_flush_denormal(True)
    results = {}
    with tempfile.TemporaryDirectory() as logdir:
        print(f"{'workload':<12} {'ms/step':>8} " + " ".join(f"{c:>14}" for c in CONFIGS[1:]) + "   held/params")
        for workload in args.workloads:
            times, held, params = time_workload(workload, args.blocks, args.steps, logdir)
            # Medians, and the fastest blocks: neighbours on a shared machine only ever add time,
            # so the minimum is the steadiest estimate of what a configuration itself costs.
            for stat, summarize in (("median", statistics.median), ("min", min)):
                per_step = {c: summarize(t) for c, t in times.items()}
                ratios = {c: per_step[c] / per_step["bare"] for c in CONFIGS}
                vs_sw = {c: per_step[c] / per_step["summarywriter"] for c in ("diagwriter", "watch", "everything")}
                results.setdefault(workload, {"tensor_bytes_held": held, "param_bytes": params})[stat] = {
                    "bare_ms": per_step["bare"] * 1e3, "ratios": ratios, "vs_summarywriter": vs_sw}
                print(f"{workload + ' ' + stat:<12} {per_step['bare'] * 1e3:>8.2f} "
                      + " ".join(f"{ratios[c]:>14.3f}" for c in CONFIGS[1:])
                      + (f"   {held / 1024:.0f} KiB / {params / 1024:.0f} KiB" if stat == "median" else ""))
                print(f"{'':<12} {'vs SummaryWriter:':>23} diagwriter {vs_sw['diagwriter']:.3f}, "
                      f"watch {vs_sw['watch']:.3f}, everything {vs_sw['everything']:.3f}")
        scalars, events = writer_throughput(logdir)
        results["writer"] = {"loss_scalars_per_s": scalars, "events_per_s": events}
        print(f"writer: {scalars:,.0f} loss scalars/s diagnosed and written; {events:,.0f} events/s written")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
