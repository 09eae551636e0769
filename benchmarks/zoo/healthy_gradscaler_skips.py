"""Healthy: a GradScaler-style loop on half-precision-like gradients skips the steps whose gradients overflow."""

import torch
from torch import nn

from tb_lossdiag import DiagWriter

from ._common import blobs, minibatches, split, validate

EXPECT = ()
ONSET = None
FP16_MAX = 65504.0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(seed=9))
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    criterion = nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    batches = minibatches(*train)
    scale, good_steps, skipped = 2.0 ** 16, 0, 0
    for step in range(300):
        inputs, targets = next(batches)
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        (loss * scale).backward()
        # What float16 gradients would hold: anything beyond its range overflows to inf.
        grads = [p.grad.masked_fill(p.grad.abs() > FP16_MAX, float("inf")) for p in model.parameters()]
        if all(torch.isfinite(g).all() for g in grads):
            for p, g in zip(model.parameters(), grads):
                p.grad = g / scale
            optimizer.step()
            good_steps += 1
            if good_steps % 20 == 0:
                scale *= 2.0  # probe a higher scale, as GradScaler's growth_interval does
        else:
            skipped += 1
            scale /= 2.0  # overflow: skip this step and back off, as GradScaler does
        writer.add_scalar("loss/train", loss, step)
        if step % 10 == 9:
            validate(writer, model, criterion, val, step)
    writer.add_scalar("amp/skipped_steps", skipped, 300)
    writer.close()
