"""Two ranks (gloo, CPU) training under watch() a model sharded with FSDP2's fully_shard (with
guard=True), then one split by tensor parallelism; in the FSDP job rank 1's batch holds a NaN at
step argv[2]. Rank 0
also trains unsharded copies on the same data and writes their norms to argv[3] as JSON
{"fsdp"|"tp": {step: {"grad_norm", "weight_norm", "update_ratio"}}} (launched by test_fsdp.py)."""

import copy
import json
import os
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

import tb_lossdiag

STEPS = 4
LR = 0.05


def batch(rank: int, step: int):
    """Rank `rank`'s batch at `step`: any rank can make any other's."""
    data = torch.Generator().manual_seed(1000 * rank + step)
    return torch.randn(16, 4, generator=data), torch.randn(16, 1, generator=data)


def mlp():
    # Linear(8, 1)'s bias has one value: under FSDP rank 1's shard of it is empty; under tensor
    # parallelism it is replicated.
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def norm(tensors) -> float:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors])).item()


def train(model, reference, logdir: str, inputs, reference_inputs, compared: int, guard: bool = False) -> dict:
    """Train `model` (sharded) under watch(); on rank 0, `reference` (unsharded) on the same data
    for the first `compared` steps: its norms by step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=LR)
    writer = tb_lossdiag.DiagWriter(tb_lossdiag.rank_log_dir(logdir))
    writer.watch(model, optimizer, every=1, guard=guard)
    norms = {}
    for step in range(STEPS):
        x, y = inputs(step)
        loss = F.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("train/loss", loss, step)
        if dist.get_rank() == 0 and step < compared:
            x, y = reference_inputs(step)
            reference_optimizer.zero_grad()
            F.mse_loss(reference(x), y).backward()
            before = [p.detach().clone() for p in reference.parameters()]
            reference_optimizer.step()
            norms[step] = {
                "grad_norm": norm([p.grad for p in reference.parameters()]),
                "weight_norm": norm(before),
                "update_ratio": norm([p.detach() - b for p, b in zip(reference.parameters(), before)]) / norm(before),
            }
    writer.close()
    return norms


def main(logdir: str, nan_step: int, reference_path: str) -> None:
    dist.init_process_group("gloo")
    rank, ranks = dist.get_rank(), dist.get_world_size()

    def rank_batch(step):
        x, y = batch(rank, step)
        if rank == 1 and step == nan_step:
            x[2, 1] = float("nan")
        return x, y

    def every_batch(step):  # the same step unsharded, on every rank's batch at once
        both = [batch(r, step) for r in range(ranks)]
        return torch.cat([b[0] for b in both]), torch.cat([b[1] for b in both])

    model = mlp()
    reference = copy.deepcopy(model)
    fully_shard(model[0])
    fully_shard(model)
    found = {"fsdp": train(model, reference, logdir, rank_batch, every_batch, nan_step, guard=True)}

    model = mlp()
    reference = copy.deepcopy(model)
    mesh = init_device_mesh("cpu", (ranks,))
    parallelize_module(model, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})
    same = lambda step: batch(0, step)  # noqa: E731  (tensor parallelism: every rank the same batch)
    found["tp"] = train(model, reference, os.path.join(logdir, "tp"), same, same, STEPS)
    if rank == 0:
        with open(reference_path, "w") as f:
            json.dump(found, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
