"""Memory soak: a tiny watched model for many steps; prints RSS and tracemalloc figures at intervals.

    python benchmarks/memory_soak.py [steps]   (default 100,000)

watch(every=10), the loss logged every step. RSS should stay flat after warm-up, and the memory
tracemalloc attributes to tb_lossdiag should not grow.
"""

import gc
import sys
import tempfile
import time
import tracemalloc

import torch
import torch.nn.functional as F
from torch import nn

from tb_lossdiag import DiagWriter


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(steps: int = 100_000) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    interval = max(1, steps // 10)
    tracemalloc.start()
    only_ours = [tracemalloc.Filter(True, "*tb_lossdiag*")]
    with tempfile.TemporaryDirectory() as logdir:
        writer = DiagWriter(logdir)
        writer.watch(model, optimizer, every=10)
        start = time.perf_counter()
        print(f"{'step':>8} {'RSS MiB':>9} {'traced MiB':>11} {'tb_lossdiag KiB':>16} {'gc objects':>11} {'events':>7} {'s':>7}")
        for step in range(steps):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss/train", loss, step)
            if (step + 1) % interval == 0 or step == 999:
                gc.collect()
                current, _ = tracemalloc.get_traced_memory()
                ours = sum(s.size for s in tracemalloc.take_snapshot().filter_traces(only_ours).statistics("filename"))
                print(f"{step + 1:>8} {rss_mib():>9.1f} {current / 2**20:>11.2f} {ours / 1024:>16.1f} "
                      f"{len(gc.get_objects()):>11} {len(writer.events):>7} {time.perf_counter() - start:>7.1f}",
                      flush=True)
        writer.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
