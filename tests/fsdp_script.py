"""Two ranks of a model sharded with FSDP2's fully_shard (gloo, CPU) under watch(); rank 1's batch
holds a NaN at step argv[2]. Rank 0 also trains an unsharded copy on both ranks' data and writes
its norms to argv[3] (launched by test_fsdp.py)."""

import copy
import json
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.fsdp import fully_shard

import tb_lossdiag

STEPS = 4
LR = 0.05


def batch(rank: int, step: int):
    """Rank `rank`'s batch at `step`: any rank can make any other's."""
    data = torch.Generator().manual_seed(1000 * rank + step)
    return torch.randn(16, 4, generator=data), torch.randn(16, 1, generator=data)


def norm(tensors) -> float:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors])).item()


def main(logdir: str, nan_step: int, reference_path: str) -> None:
    dist.init_process_group("gloo")
    rank, ranks = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    # Linear(8, 1)'s bias has one value: rank 1's shard of it is empty.
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    reference = copy.deepcopy(model)
    fully_shard(model[0])
    fully_shard(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=LR)
    writer = tb_lossdiag.DiagWriter(tb_lossdiag.rank_log_dir(logdir))
    writer.watch(model, optimizer, every=1)
    norms = {}
    for step in range(STEPS):
        x, y = batch(rank, step)
        if rank == 1 and step == nan_step:
            x[2, 1] = float("nan")
        loss = F.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("train/loss", loss, step)
        if rank == 0 and step < nan_step:  # the same step unsharded, on every rank's batch at once
            both = [batch(r, step) for r in range(ranks)]
            reference_loss = F.mse_loss(reference(torch.cat([b[0] for b in both])), torch.cat([b[1] for b in both]))
            reference_optimizer.zero_grad()
            reference_loss.backward()
            before = [p.detach().clone() for p in reference.parameters()]
            reference_optimizer.step()
            norms[step] = {
                "grad_norm": norm([p.grad for p in reference.parameters()]),
                "weight_norm": norm(before),
                "update_ratio": norm([p.detach() - b for p, b in zip(reference.parameters(), before)]) / norm(before),
            }
    writer.close()
    if rank == 0:
        with open(reference_path, "w") as f:
            json.dump(norms, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
