"""Extrapolating y = x^3 + x^2 + x with a raw weight matrix, MSELoss(sum) and lr 1e-6: the loss grows 140x a step."""
# source: https://stats.stackexchange.com/questions/594738/loss-is-growing-between-epochs-in-simple-model
# root: loss_divergence

import numpy as np
import torch

from tb_lossdiag import DiagWriter

EXPECT = ("loss_divergence",)
ALLOW = ("unnormalized_input",)  # the inputs reach 1,110: the step size is too big for them
ONSET = 0
STEPS = 60


def run(logdir: str, steps: int = STEPS) -> None:
    np.random.seed(0)
    x = np.linspace(-10, 10, 100)
    y = x**3 + x**2 + x
    loss_fn = torch.nn.MSELoss(reduction='sum')

    def get_trgts(i): return torch.tensor(y[i:])
    def get_weights(i, o): return torch.tensor(np.random.normal(0, 3, (o, i))).requires_grad_()
    def get_params(i): return torch.tensor(y[:i])
    weights = get_weights(80, 20)
    trgts = get_trgts(80)
    params = get_params(80)
    bias = get_weights(1, 1)
    lr = 1e-6
    writer = DiagWriter(logdir)

    def apply_step(weights, bias, step):
        preds = weights@params + bias
        loss = loss_fn(preds, trgts)
        loss.backward()
        with torch.no_grad():
            weights -= weights.grad * lr
            bias -= bias.grad * lr
        weights.grad.zero_()
        bias.grad.zero_()
        writer.add_scalar("loss", loss.item(), step)
        return preds
    for i in range(steps): apply_step(weights, bias, i)
    writer.close()
