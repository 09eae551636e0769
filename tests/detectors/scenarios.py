"""Training loops written as users write them, through DiagWriter + watch(), for the model detector tests."""

import torch
from torch import nn

from tb_lossdiag import DiagWriter


def batches(n, x_shape, classes=None, seed=0, scale=1.0):
    """`n` synthetic (x, y) batches: class ids when `classes` is given, else regression targets."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(*x_shape, generator=gen) * scale
        if classes:
            y = torch.randint(0, classes, (x_shape[0],), generator=gen)
        else:
            y = x.reshape(x_shape[0], -1)[:, :1].sum(1) * 0.5 + 0.1 * torch.randn(x_shape[0], generator=gen)
        out.append((x, y))
    return out


def train(logdir, model, data, loss_fn, optimizer=None, *, accumulate=1, zero_grad=True,
          log_before_backward=False, every=10, scheduler=None, eval_batch=None, watch=True):
    """The usual loop; the loss is logged every optimizer step under its number. Returns the events."""
    torch.manual_seed(0)
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=0.05)
    writer = DiagWriter(logdir)
    if watch:
        writer.watch(model, optimizer, every=every)
    model.train()
    for i, (x, y) in enumerate(data):
        step = i // accumulate
        if zero_grad and i % accumulate == 0:
            optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        last = (i + 1) % accumulate == 0
        if log_before_backward and last:
            writer.add_scalar("loss/train", loss, step)
        (loss / accumulate).backward()
        if last:
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if not log_before_backward:
                writer.add_scalar("loss/train", loss, step)
        if eval_batch is not None and last:
            model.eval()
            with torch.no_grad():
                writer.add_scalar("loss/val", loss_fn(model(eval_batch[0]), eval_batch[1]), step)
            model.train()
    writer.close()
    return writer.events


def problems(events):
    """The warnings and errors among `events`."""
    return [e for e in events if e.severity in ("warning", "error")]


def only(events, kind):
    """The single event of `kind` (fails with the full list when there are none or several)."""
    found = [e for e in events if e.kind == kind]
    assert len(found) == 1, [(e.kind, e.step, e.message) for e in events]
    return found[0]


def mlp(*sizes, act=nn.ReLU, last_act=None, seed=0):
    """Linear layers of `sizes` with `act` between them (and `last_act` after the last)."""
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    if last_act is not None:
        layers.append(last_act)
    return nn.Sequential(*layers)
