"""A two-rank DDP run with watch(guard=True) whose rank 1 shard holds a NaN at step argv[2]
(launched by test_guard_distributed.py): each rank saves its final weights beside its run."""

import os
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import tb_lossdiag

STEPS = 6


def main(logdir: str, nan_step: int) -> None:
    """Train a tiny DDP model on gloo, every rank writing its own run; exit 3 if a rank's weights turned NaN."""
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)  # same initial weights on every rank, as DDP expects
    inner = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    model = DistributedDataParallel(inner)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    run = tb_lossdiag.rank_log_dir(logdir)
    writer = tb_lossdiag.DiagWriter(run)
    writer.watch(model.module, optimizer, guard=True)
    data = torch.Generator().manual_seed(rank)  # each rank its own shard
    for step in range(STEPS):
        x, y = torch.randn(16, 4, generator=data), torch.randn(16, 1, generator=data)
        if rank == 1 and step == nan_step:
            x[2, 1] = float("nan")
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()  # DDP all-reduces the gradients here: rank 0's turn NaN too
        optimizer.step()
        writer.add_scalar("train/loss", loss, step)
    writer.close()
    torch.save(inner.state_dict(), os.path.join(run, "weights.pt"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
