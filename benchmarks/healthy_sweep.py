"""Healthy sweep: 60 healthy training configurations, each with DiagWriter; how many runs get flagged (must be 0).

Tasks on synthetic data (tabular classification and regression, sequences through a GRU or an
LSTM, a small transformer encoder, an autoencoder), five optimizers at safe learning rates, six
schedules, and the usual extras (dropout, BatchNorm/LayerNorm, weight decay, clipping, gradient
accumulation, bf16 autocast), 300 to 20,000 steps. Most runs call watch(model, optimizer); every
fourth only swaps the writer. A run is flagged by any warning or error event. Runs two at a time,
each in a fresh forked process. Exits 1 when a run is flagged or fails.
Run: `python benchmarks/healthy_sweep.py [--quick] [--only N...] [--workers 2]`.
"""

import argparse
import collections
import dataclasses
import multiprocessing
import sys
import tempfile
import time
import traceback
from typing import Dict, List, Optional

import torch
from torch import nn

from tb_lossdiag import DiagWriter

TASKS = ("tabular", "regression", "sequence", "transformer", "autoencoder")
OPTIMIZERS = {  # safe learning rates for these small models
    "SGD": lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9),
    "Adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    "AdamW": lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e-2),
    "RMSprop": lambda p: torch.optim.RMSprop(p, lr=5e-4),
    "Adagrad": lambda p: torch.optim.Adagrad(p, lr=0.02),
}
SCHEDULES = ("none", "step", "cosine", "onecycle", "warmup", "plateau")
EXTRAS = ("plain", "dropout", "norm", "weight_decay", "clip", "accumulate", "bf16")
QUICK_EVERY, QUICK_STEPS = 6, 300  # --quick: every 6th configuration, at most 300 steps
TIMEOUT_S = 300


@dataclasses.dataclass
class Config:
    """One healthy configuration."""

    index: int
    task: str
    optimizer: str
    schedule: str
    extra: str
    steps: int
    watch: bool

    @property
    def name(self) -> str:
        hook = "watch" if self.watch else "swap"
        return f"{self.index:02d}-{self.task}-{self.optimizer}-{self.schedule}-{self.extra}-{self.steps}-{hook}"


def configs() -> List[Config]:
    """The 60 configurations: every task meets every optimizer, the schedules and extras rotate."""
    long_runs = {10: 5000, 25: 20000, 50: 10000}
    return [
        Config(i, TASKS[i % 5], list(OPTIMIZERS)[i // 5 % 5], SCHEDULES[i // 2 % 6], EXTRAS[i % 7],
               long_runs.get(i, (300, 600, 1000)[i % 3]), watch=i % 4 != 3)
        for i in range(60)
    ]


def _data(task: str, g: torch.Generator):
    """(inputs, targets) of a learnable synthetic task: 1,024 examples."""
    if task == "tabular":  # wine-like: 13 features, 3 classes
        centers = torch.randn(3, 13, generator=g) * 2
        y = torch.randint(0, 3, (1024,), generator=g)
        return centers[y] + torch.randn(1024, 13, generator=g), y
    if task == "regression":  # diabetes-like: 10 features, a noisy linear target
        x = torch.randn(1024, 10, generator=g)
        return x, x @ torch.randn(10, 1, generator=g) + 0.3 * torch.randn(1024, 1, generator=g)
    if task in ("sequence", "transformer"):  # the sign of the first channel's sum, over 16 steps
        x = torch.randn(1024, 16, 8, generator=g)
        return x, (x[:, :, 0].sum(1) > 0).long()
    x = torch.randn(1024, 4, generator=g) @ torch.randn(4, 32, generator=g)  # autoencoder: 32-d on a 4-d subspace
    return x, x


class _Sequence(nn.Module):
    def __init__(self, cell, norm, dropout):
        super().__init__()
        self.rnn = cell(8, 32, batch_first=True)
        self.head = nn.Sequential(norm(32), nn.Dropout(dropout), nn.Linear(32, 2))

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


class _Transformer(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.embed = nn.Linear(8, 32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(32, 2)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x)).mean(1))


def _model(config: Config) -> nn.Module:
    """The task's model with the configuration's extras."""
    dropout = 0.2 if config.extra == "dropout" else 0.0
    norm = {"tabular": nn.BatchNorm1d, "regression": nn.BatchNorm1d}.get(config.task, nn.LayerNorm)
    norm = norm if config.extra == "norm" else (lambda n: nn.Identity())
    if config.task == "sequence":
        return _Sequence(nn.GRU if config.index % 2 else nn.LSTM, norm, dropout)
    if config.task == "transformer":
        return _Transformer(dropout)
    sizes = {"tabular": (13, 3), "regression": (10, 1), "autoencoder": (32, 32)}[config.task]
    hidden = 8 if config.task == "autoencoder" else 64
    return nn.Sequential(nn.Linear(sizes[0], hidden), norm(hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, sizes[1]))


def _schedule(config: Config, optimizer, updates: int):
    """The configuration's learning-rate schedule (None: constant), stepped once per update."""
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, updates // 3), gamma=0.5)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=updates)
    if config.schedule == "onecycle":
        max_lr = optimizer.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=updates + 1)
    if config.schedule == "warmup":
        warm = max(1, updates // 10)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warm))
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=20)
    return None


def train(config: Config, logdir: str) -> list:
    """Train `config` into `logdir`; the writer's events."""
    torch.manual_seed(config.index)
    g = torch.Generator().manual_seed(config.index)
    x, y = _data(config.task, g)
    (x_train, y_train), (x_val, y_val) = (x[:768], y[:768]), (x[768:], y[768:])
    model = _model(config)
    params = model.parameters()
    optimizer = OPTIMIZERS[config.optimizer](params)
    if config.extra == "weight_decay":
        for group in optimizer.param_groups:
            group["weight_decay"] = 1e-3
    accumulate = 4 if config.extra == "accumulate" else 1
    schedule = _schedule(config, optimizer, config.steps // accumulate)
    criterion = nn.MSELoss() if config.task in ("regression", "autoencoder") else nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)
    if config.watch:
        writer.watch(model, optimizer)
    model.train()
    for step in range(config.steps):
        i = torch.randint(0, 768, (32,), generator=g)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.extra == "bf16"):
            loss = criterion(model(x_train[i]).float(), y_train[i])
        (loss / accumulate).backward()
        if (step + 1) % accumulate == 0:
            if config.extra == "clip":
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
                schedule.step(loss.item())
            elif schedule is not None:
                schedule.step()
        writer.add_scalar("loss/train", loss if step % 2 else loss.item(), step)  # half tensors, half floats
        if step % 50 == 49:
            model.eval()
            with torch.no_grad():
                writer.add_scalar("loss/val", criterion(model(x_val).float(), y_val), step)
            model.train()
    writer.close()
    return writer.events


def run_config(config: Config) -> tuple:
    """(seconds, flagged events as (kind, severity, step, message), failure or None). Never raises."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sweep-") as logdir:
        try:
            events = train(config, logdir)
        except Exception:  # a crashing configuration is a result to report
            return time.perf_counter() - start, [], traceback.format_exc()
    flagged = [(e.kind, e.severity, e.step, e.message) for e in events if e.severity in ("warning", "error")]
    return time.perf_counter() - start, flagged, None


def sweep(selected: List[Config], workers: int = 2) -> Dict[str, tuple]:
    """name -> (seconds, flagged, failure) of each configuration, `workers` at a time in forked processes."""
    outcomes = {}
    with multiprocessing.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
        pending = {c.name: pool.apply_async(run_config, (c,)) for c in selected}
        for name, job in pending.items():
            try:
                outcomes[name] = job.get(TIMEOUT_S)
            except multiprocessing.TimeoutError:
                outcomes[name] = (TIMEOUT_S, [], f"timed out after {TIMEOUT_S} s")
    return outcomes


def report(outcomes: Dict[str, tuple]) -> str:
    """One line per flagged or failed run, then the totals by kind."""
    lines, by_kind = [], collections.Counter()
    for name, (seconds, flagged, failure) in outcomes.items():
        kinds = sorted({kind for kind, *_ in flagged})
        by_kind.update(kinds)
        if flagged or failure:
            lines.append(f"FLAGGED {name} ({seconds:.1f} s)")
            seen = set()
            for kind, severity, step, message in flagged:
                if kind not in seen:
                    seen.add(kind)
                    lines.append(f"    {severity} {kind} at step {step}: {message}")
            if failure:
                lines.append("    failed: " + failure.strip().splitlines()[-1])
    total = sum(o[0] for o in outcomes.values())
    bad = sum(bool(o[1] or o[2]) for o in outcomes.values())
    lines.append(f"{len(outcomes)} healthy configurations, {bad} flagged or failed "
                 f"({dict(by_kind) or 'no kind'}), {total:.0f} s of training")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"every {QUICK_EVERY}th configuration, "
                        f"at most {QUICK_STEPS} steps (for CI)")
    parser.add_argument("--only", nargs="+", type=int, metavar="N", help="run only these configuration numbers")
    parser.add_argument("--workers", type=int, default=2, help="configurations run at a time (default 2)")
    args = parser.parse_args(argv)
    selected = configs()
    if args.quick:
        selected = [dataclasses.replace(c, steps=min(c.steps, QUICK_STEPS)) for c in selected[::QUICK_EVERY]]
    if args.only:
        selected = [c for c in selected if c.index in args.only]
    outcomes = sweep(selected, args.workers)
    print(report(outcomes))
    return 0 if not any(o[1] or o[2] for o in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
