"""Read speed of `tb-lossdiag report` and `scan` beside TensorBoard's own Python loader, in MB/s.

Writes (once; kept in --dir) the files read:
  scalars/diag   a run of 500,000 scalars (100,000 steps of loss/train and 4 other tags, NaN at the
                 end) written by DiagWriter: ~25 MB
  scalars/plain  the same run written by SummaryWriter: scan runs the loss detectors over it
  media/diag     DiagWriter scalars with a histogram every 10 steps and an image every 100
  many/          1,000 small DiagWriter runs (a log directory of a hyper-parameter sweep)
Then times, best of --repeat: read_logdir (what `report` reads), scan_logdir, `report` and `scan` through
the command line in a fresh process (imports included), and TensorBoard's EventAccumulator.Reload(); in
wall time and in CPU time (what a shared machine's neighbours move least), the last row "wall/CPU s".
Run: `python benchmarks/read_speed.py [--dir /tmp/tb_lossdiag_read_speed] [--skip-tensorboard]`.
"""

import argparse
import math
import os
import random
import resource
import subprocess
import sys
import time
from typing import Tuple

STEPS = 100_000
OTHER_TAGS = ("accuracy", "lr", "grad_norm", "throughput/samples_per_s")
MANY_RUNS = 1000


def _scalars(writer, steps: int, nan_from: int) -> None:
    """loss/train decaying with noise, NaN from `nan_from`, beside four tags that are not losses."""
    rng = random.Random(0)
    for step in range(steps):
        level = 0.2 + 2.1 * math.exp(-step / (steps / 10))
        loss = level * math.exp(0.2 * rng.gauss(0, 1)) if step < nan_from else float("nan")
        writer.add_scalar("loss/train", loss, step)
        for i, tag in enumerate(OTHER_TAGS):
            writer.add_scalar(tag, rng.random() * (i + 1), step)


def _media(writer, steps: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    for step in range(steps):
        writer.add_scalar("loss/train", 1.0 / (1 + step / 100), step)
        if step % 10 == 0:
            writer.add_histogram("weights", rng.normal(size=4096), step)
        if step % 100 == 0:
            writer.add_image("samples", rng.integers(0, 255, (3, 96, 96), dtype=np.uint8), step)


def generate(root: str) -> None:
    """Write the benchmark's log directories below `root` (slow: minutes; done once)."""
    from torch.utils.tensorboard import SummaryWriter

    from tb_lossdiag import DiagWriter

    big = dict(max_queue=10_000, flush_secs=3600)
    with DiagWriter(os.path.join(root, "scalars", "diag"), **big) as w:
        _scalars(w, STEPS, STEPS - 100)
    with SummaryWriter(os.path.join(root, "scalars", "plain"), **big) as w:
        _scalars(w, STEPS, STEPS - 100)
    with DiagWriter(os.path.join(root, "media", "diag"), **big) as w:
        _media(w, 20_000)
    for i in range(MANY_RUNS):
        with DiagWriter(os.path.join(root, "many", f"lr{i:04d}")) as w:
            for step in range(50):
                w.add_scalar("loss", 1.0 / (1 + step) if i % 100 else float("nan"), step)
                w.add_scalar("accuracy", step / 50, step)


def size_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files) / 1e6


def best(function, repeat: int) -> Tuple[float, float]:
    """(wall, CPU) seconds of the fastest of `repeat` calls (the machine is shared: the minimum is the
    cost, and CPU time is what neighbours move least)."""
    times = []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        function()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return min(times)


def tensorboard_load(path: str) -> None:
    """TensorBoard's Python loader reading every run below `path`."""
    from tensorboard.backend.event_processing import event_multiplexer

    multiplexer = event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(path)
    multiplexer.Reload()


def command(args) -> Tuple[float, float]:
    """(wall, CPU) seconds of `tb-lossdiag ARGS` in a fresh process (imports included), output discarded."""
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "tb_lossdiag", *args], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/tb_lossdiag_read_speed")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-tensorboard", action="store_true", help="skip EventAccumulator (slow)")
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.dir, "many")):
        print(f"writing the benchmark's log directories to {args.dir} (once) ...", flush=True)
        generate(args.dir)

    from tb_lossdiag import eventfile, reader
    from tb_lossdiag.scan import scan_logdir

    print(f"checksums: {'google-crc32c (C)' if eventfile._c_crc32c else 'numpy / pure Python fallback'}")
    print(f"{'files':<16}{'MB':>7}  {'':>4}  {'report':>13}  {'scan':>13}  {'scan, reading':>13}  "
          f"{'CLI report':>13}  {'CLI scan':>13}  {'TensorBoard':>13}")
    for name in ("scalars/diag", "scalars/plain", "media/diag", "many"):
        path = os.path.join(args.dir, name)
        mb = size_mb(path)
        nothing = (float("nan"), float("nan"))
        timings = (
            best(lambda: reader.read_logdir(path), args.repeat),
            best(lambda: scan_logdir(path), args.repeat),
            best(lambda: reader.read_logdir(path, loss_tags="loss"), args.repeat),
            min(command(["report", path, "--format", "json"]) for _ in range(args.repeat)),
            min(command(["scan", path, "--format", "json"]) for _ in range(args.repeat)),
            nothing if args.skip_tensorboard else best(lambda: tensorboard_load(path), 1),
        )
        for clock, row in (("wall", 0), ("CPU", 1)):
            cells = [f"{mb / t[row]:7.1f} MB/s" if t[row] == t[row] else f"{'-':>12}" for t in timings]
            print(f"{name if row == 0 else '':<16}{f'{mb:.1f}' if row == 0 else '':>7}  {clock:>4}  "
                  + "  ".join(f"{c:>13}" for c in cells), flush=True)
        print(f"{'':<29}" + "  ".join(f"{t[0]:6.2f}/{t[1]:.2f} s" if t[0] == t[0] else f"{'':>13}"
                                      for t in timings), flush=True)


if __name__ == "__main__":
    main()
