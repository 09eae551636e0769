"""Shared helpers of the curve detector tests: scripted curves, tiny datasets, a user's training loop."""

import numpy as np
import torch

from tb_lossdiag import DiagWriter
from tb_lossdiag.detectors import LossPoint


def feed(detector, values, tag="loss/train", validation=False, first_step=0):
    """Every event `detector` reports for the scripted curve `values`."""
    events = []
    for i, value in enumerate(values):
        events.extend(detector.on_loss(LossPoint(tag, first_step + i, float(value), validation)))
    return events


def feed_pair(detector, train, val, val_every, family="loss"):
    """Events for a training curve logged every step and a validation curve every `val_every` steps."""
    events = []
    for i, value in enumerate(train):
        events.extend(detector.on_loss(LossPoint(f"{family}/train", i, float(value))))
        if i % val_every == val_every - 1:
            v = val[i // val_every]
            events.extend(detector.on_loss(LossPoint(f"{family}/val", i, float(v), True)))
    return events


def curve(values, every=1, first=0):
    """A scripted curve as read from disk: (step, value, wall time) of each value."""
    return [(first + every * i, float(v), 100.0 + first + every * i) for i, v in enumerate(values)]


def random_curve(seed, n=4000):
    """A curve of random stretches (falls, plateaus, rises, rhythms, exactly constant runs) with noise
    of random size, spikes of random height and NaNs: it meets each detector's rules near their edges."""
    rng = np.random.default_rng(seed)
    level, parts = 2.3, []
    while sum(map(len, parts)) < n:
        length = int(rng.integers(150, 900))
        t = np.arange(length)
        kind = rng.choice(["fall", "flat", "rise", "rhythm", "constant"])
        if kind == "fall":
            part = level * (0.2 + 0.8 * np.exp(-t / rng.uniform(50, 400)))
        elif kind == "rise":
            part = level * (1 + t / rng.uniform(50, 600))
        elif kind == "rhythm":
            part = level * np.where((t // rng.integers(1, 6)) % 2 == 1, rng.uniform(1.2, 3.0), 1.0)
        else:
            part = np.full(length, level)
        if kind != "constant":
            part = part * np.exp(rng.uniform(0.005, 0.3) * rng.standard_normal(length))
        parts.append(part)
        level = float(np.median(part[-20:]))
    values = np.concatenate(parts)[:n]
    spikes = rng.random(n) < 0.004
    values[spikes] *= np.exp(rng.uniform(np.log(2), np.log(60), spikes.sum()))
    if rng.random() < 0.5:  # a runaway: a jump, then each value doubles
        at = int(rng.integers(n // 2, n - 12))
        values[at: at + 12] *= rng.uniform(1, 40) * 2.0 ** np.arange(12)
    values[rng.random(n) < 0.002] = np.nan
    return {"loss/train": curve(values)}


def noisy(curve, rel_noise, seed=0):
    """`curve` with multiplicative minibatch-like noise of relative size `rel_noise`."""
    rng = np.random.default_rng(seed)
    curve = np.asarray(curve, dtype=float)
    return curve * np.exp(rel_noise * rng.standard_normal(len(curve)))


def decay(n, start=2.3, floor=0.2, tau=100.0):
    """A clean exponential learning curve from `start` down to `floor`."""
    t = np.arange(n)
    return floor + (start - floor) * np.exp(-t / tau)


def classification(n=256, features=10, classes=3, seed=0, label_noise=0.0):
    """A learnable synthetic classification set (x, y), with a fraction of labels randomized."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=gen)
    y = (x @ torch.randn(features, classes, generator=gen)).argmax(1)
    flip = torch.rand(n, generator=gen) < label_noise
    y[flip] = torch.randint(0, classes, (int(flip.sum()),), generator=gen)
    return x, y


def regression(n=256, features=5, seed=0, noise=0.1):
    """A synthetic linear regression set (x, y) with y of shape (n, 1)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=gen)
    y = x @ torch.randn(features, 1, generator=gen) + noise * torch.randn(n, 1, generator=gen)
    return x, y


def mlp(features, hidden, out, dropout=0.0, last=None):
    """A small MLP, optionally with dropout and a last activation."""
    layers = [torch.nn.Linear(features, hidden), torch.nn.ReLU()]
    if dropout:
        layers.append(torch.nn.Dropout(dropout))
    layers.append(torch.nn.Linear(hidden, out))
    if last is not None:
        layers.append(last)
    return torch.nn.Sequential(*layers)


def fit(logdir, model, data, loss_fn, optimizer, steps, batch=None, val=None, val_every=10,
        scheduler=None, corrupt=None, tag="loss/train", **writer_options):
    """Train as users do, logging the loss tensor every step (and a validation loss); returns the writer.

    `corrupt` is (step, function of (x, y) -> (x, y)) to feed one bad batch.
    """
    torch.manual_seed(0)
    x_all, y_all = data
    writer = DiagWriter(logdir, **writer_options)
    gen = torch.Generator().manual_seed(1)
    for step in range(steps):
        model.train()
        if batch is None:
            x, y = x_all, y_all
        else:
            idx = torch.randint(0, len(x_all), (batch,), generator=gen)
            x, y = x_all[idx], y_all[idx]
        if corrupt is not None and step == corrupt[0]:
            x, y = corrupt[1](x, y)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        writer.add_scalar(tag, loss, step)
        if val is not None and step % val_every == val_every - 1:
            model.eval()
            with torch.no_grad():
                writer.add_scalar(tag.replace("train", "val"), loss_fn(model(val[0]), val[1]), step)
    writer.close()
    return writer


def problems(events):
    """The warnings and errors among `events`."""
    return [e for e in events if e.severity in ("warning", "error")]


def kinds(events, kind):
    """The events of `kind`."""
    return [e for e in events if e.kind == kind]
