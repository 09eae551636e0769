"""DiagWriter under DDP: every rank diagnoses its own data shard, into its own run.

    torchrun --nproc_per_node=2 examples/ddp_torchrun.py [LOGDIR]   (default: runs/ddp)
    tb-lossdiag report runs/ddp                  (runs "." for rank 0 and "rank1")

CPU and gloo; rank 1's shard holds one NaN, which only rank 1 sees in its batch (rank 0 sees the
all-reduced NaN gradients that follow). Expected in run rank1: nonfinite_input at step 3.
"""

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import tb_lossdiag


def main(logdir: str) -> None:
    """Two epochs of a small MLP; the DiagWriter calls run on every rank, not only rank 0."""
    dist.init_process_group("gloo")
    torch.manual_seed(0)  # the same data and initial weights on every rank
    x = torch.randn(512, 8)
    y = x @ torch.randn(8, 1)
    x[2 * 32 * 3 + 1, 5] = float("nan")  # odd rows are rank 1's: its batch 3
    sampler = DistributedSampler(TensorDataset(x, y), shuffle=False)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, sampler=sampler)
    model = DistributedDataParallel(torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    writer = tb_lossdiag.DiagWriter(tb_lossdiag.rank_log_dir(logdir))  # logdir on rank 0, logdir/rankN on rank N
    writer.watch(model.module, optimizer)  # the wrapped module: its hooks fire inside DDP's forward
    step = 0
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss/train", loss, step)
            step += 1
    writer.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/ddp")
