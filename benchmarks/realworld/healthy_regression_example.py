"""Healthy: pytorch/examples regression (a degree-4 polynomial fit by hand-written SGD on smooth_l1_loss)."""
# source: https://github.com/pytorch/examples/blob/main/regression/main.py

import torch
import torch.nn.functional as F

from tb_lossdiag import DiagWriter

EXPECT = ()
ONSET = None
STEPS = 400
POLY_DEGREE = 4
W_target = torch.randn(POLY_DEGREE, 1, generator=torch.Generator().manual_seed(0)) * 5
b_target = torch.randn(1, generator=torch.Generator().manual_seed(1)) * 5


def make_features(x):
    """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    """Approximated function."""
    return x.mm(W_target) + b_target.item()


def get_batch(batch_size=32):
    """Builds a batch i.e. (x, f(x)) pair."""
    random = torch.randn(batch_size)
    x = make_features(random)
    y = f(x)
    return x, y


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    # Define model
    fc = torch.nn.Linear(W_target.size(0), 1)
    writer = DiagWriter(logdir)
    writer.watch(fc)
    for batch_idx in range(steps):
        # Get data
        batch_x, batch_y = get_batch()

        # Reset gradients
        fc.zero_grad()

        # Forward pass
        output = F.smooth_l1_loss(fc(batch_x), batch_y)
        loss = output.item()

        # Backward pass
        output.backward()

        # Apply gradients
        for param in fc.parameters():
            param.data.add_(-0.1 * param.grad)

        writer.add_scalar("loss", output, batch_idx)
        # Stop criterion
        if loss < 1e-3:
            break
    writer.close()
