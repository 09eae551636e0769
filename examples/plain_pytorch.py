"""DiagWriter in a plain PyTorch loop: a regression whose data holds one NaN value.

    python examples/plain_pytorch.py [LOGDIR]        (default: runs/plain_pytorch)
    tb-lossdiag report runs/plain_pytorch            (or: tensorboard --logdir runs, Loss Diagnostics tab)

Expected: nonfinite_input and nonfinite_loss at step 9, the batch holding the NaN.
"""

import sys

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter


def main(logdir: str) -> None:
    """Train a small MLP for one epoch, logging the loss tensor every step."""
    torch.manual_seed(0)
    x = torch.randn(1024, 8)
    y = x @ torch.randn(8, 1) + 0.1 * torch.randn(1024, 1)
    x[300, 2] = float("nan")  # one missing value: row 300 is in batch 300 // 32 = 9
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    writer = DiagWriter(logdir)  # a SummaryWriter that also diagnoses every loss it is given
    writer.watch(model, optimizer)  # gradient, input and activation probes
    for step, (xb, yb) in enumerate(DataLoader(TensorDataset(x, y), batch_size=32)):
        optimizer.zero_grad()
        loss = F.mse_loss(model(xb), yb)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)  # the tensor: its graph tells the loss function
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/plain_pytorch")
