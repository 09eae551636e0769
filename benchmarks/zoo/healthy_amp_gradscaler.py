"""Healthy: float16 autocast with a real torch.amp.GradScaler whose scale grows every 25 good steps, overflows, skips a step and backs off, as it does for a whole run."""

import torch
from torch import nn

from tb_lossdiag import DiagWriter

from ._common import blobs, minibatches, split, validate

EXPECT = ()
ONSET = None


def run(logdir: str) -> None:
    torch.manual_seed(0)
    train, val = split(*blobs(seed=42, features=16, classes=4))
    batches = minibatches(*train)
    model = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", growth_interval=25)
    criterion = nn.CrossEntropyLoss()
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, scaler=scaler)
    skipped = 0
    for step in range(300):
        inputs, targets = next(batches)
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            loss = criterion(model(inputs), targets)
        scale = scaler.get_scale()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        skipped += scaler.get_scale() < scale
        writer.add_scalar("loss/train", loss, step)
        if step % 10 == 9:
            validate(writer, model, criterion, val, step)
    writer.add_scalar("amp/skipped_steps", skipped, 300)
    writer.close()
