"""Synthetic stand-ins for the datasets the original programs read: same shapes, learnable, seeded."""

import torch


def generator(seed: int) -> torch.Generator:
    """A seeded generator, so every script draws the same data on every run."""
    return torch.Generator().manual_seed(seed)


def class_images(n, shape, classes, seed=0, noise=1.0):
    """Images of `shape` whose class is a fixed random pattern plus noise; labels in [0, classes)."""
    g = generator(seed)
    patterns = torch.randn(classes, *shape, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return patterns[y] + noise * torch.randn(n, *shape, generator=g), y


def markov_tokens(n, vocab, seed=0):
    """A token stream from a sparse random Markov chain: text-like, with something to learn."""
    g = generator(seed)
    successors = torch.randint(0, vocab, (vocab, 3), generator=g)
    tokens = torch.empty(n, dtype=torch.long)
    tokens[0] = 0
    picks = torch.randint(0, 3, (n,), generator=g)
    for i in range(1, n):
        tokens[i] = successors[tokens[i - 1], picks[i]]
    return tokens


def blob_masks(n, size, seed=0):
    """Grayscale images with a bright disc, and the disc's mask as 0/1 floats: [n, 1, size, size] each."""
    g = generator(seed)
    grid = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")).float()
    centers = torch.rand(n, 2, 1, 1, generator=g) * size
    radii = size / 8 + torch.rand(n, 1, 1, generator=g) * size / 6
    masks = (((grid[None] - centers) ** 2).sum(1) < radii ** 2).float().unsqueeze(1)
    return masks + 0.3 * torch.randn(n, 1, size, size, generator=g), masks
