"""A two-rank DDP run whose rank 1 data shard holds a NaN at step argv[2] (launched by test_distributed.py)."""

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import tb_lossdiag

STEPS = 6


def main(logdir: str, nan_step: int) -> None:
    """Train a tiny DDP model on gloo, every rank writing its own run."""
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)  # same initial weights on every rank, as DDP expects
    model = DistributedDataParallel(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = tb_lossdiag.DiagWriter(tb_lossdiag.rank_log_dir(logdir))
    # The inner module: its hooks fire inside DDP's forward and its names lack DDP's "module." prefix.
    writer.watch(model.module, optimizer, every=1)
    data = torch.Generator().manual_seed(rank)  # each rank its own shard
    for step in range(STEPS):
        x, y = torch.randn(16, 4, generator=data), torch.randn(16, 1, generator=data)
        if rank == 1 and step == nan_step:
            x[2, 1] = float("nan")
        loss = F.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("train/loss", loss, step)
    writer.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
