"""Shared zoo pieces: seeded synthetic data, mini-batching and the plain loop most scripts use."""

import itertools

import torch
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagWriter


def blobs(n=512, features=8, classes=3, seed=0, spread=2.0):
    """Gaussian class blobs: a learnable, normalized classification problem."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, features, generator=g) * spread
    y = torch.randint(0, classes, (n,), generator=g)
    return centers[y] + torch.randn(n, features, generator=g), y


def linear_targets(n=512, features=8, seed=0, noise=0.1):
    """A noisy linear target of shape [n, 1]: a learnable, normalized regression problem."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    return x, x @ torch.randn(features, 1, generator=g) + noise * torch.randn(n, 1, generator=g)


def sequences(n=384, length=12, features=4, seed=0):
    """Noisy sequences [n, length, features] and the class (0/1) of the sign of their first channel's sum."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, length, features, generator=g)
    return x, (x[:, :, 0].sum(1) > 0).long()


def split(x, y, train_fraction=0.75):
    """(train, validation) pairs of tensors."""
    cut = int(len(x) * train_fraction)
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def minibatches(x, y, batch=32, loader=True, seed=0):
    """Endless mini-batches: a shuffling DataLoader over a TensorDataset, or plain slices in order."""
    if loader:
        g = torch.Generator().manual_seed(seed)
        data = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True, drop_last=True, generator=g)
        return itertools.chain.from_iterable(itertools.repeat(data))
    starts = itertools.cycle(range(0, len(x) - batch + 1, batch))
    return ((x[i:i + batch], y[i:i + batch]) for i in starts)


def validate(writer, model, criterion, val, step):
    """Log the validation loss the usual way: eval mode, no gradients."""
    model.eval()
    with torch.no_grad():
        writer.add_scalar("loss/val", criterion(model(val[0]), val[1]), step)
    model.train()


def fit(logdir, model, optimizer, criterion, batches, val, steps=300, scheduler=None, val_every=10):
    """The textbook loop: zero_grad, forward, backward, step; train loss every step, val loss every val_every."""
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    model.train()
    for step in range(steps):
        inputs, targets = next(batches)
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        writer.add_scalar("loss/train", loss, step)
        if step % val_every == val_every - 1:
            validate(writer, model, criterion, val, step)
    writer.close()
