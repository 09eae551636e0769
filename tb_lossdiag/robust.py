"""Robust statistics: a level and a spread that a few outliers (a bad batch, a spike) barely move."""

import itertools
import math
from typing import Optional, Sequence

import numpy as np

# MAD * 1.4826 estimates a Gaussian's standard deviation while ignoring outliers.
MAD_TO_SIGMA = 1.4826


def median(xs: Sequence[float]) -> float:
    """The median of a non-empty sequence or array (a short list is sorted: numpy's call costs more)."""
    if isinstance(xs, np.ndarray):
        return float(np.median(xs))
    s = sorted(xs)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])


def robust_sigma(xs: Sequence[float], center: Optional[float] = None) -> float:
    """Standard deviation estimated from the median absolute deviation from `center` (default: the median)."""
    if len(xs) < 2:
        return 0.0
    m = median(xs) if center is None else center
    if isinstance(xs, np.ndarray):
        return MAD_TO_SIGMA * float(np.median(np.abs(xs - m)))
    return MAD_TO_SIGMA * median([abs(x - m) for x in xs])


def diff_sigma(xs: Sequence[float]) -> float:
    """Point noise estimated from successive differences, so a trend does not count as noise."""
    if len(xs) < 3:
        return 0.0
    diffs = [b - a for a, b in zip(xs, itertools.islice(xs, 1, None))]
    # Differences of white noise have sqrt(2) times its spread.
    return robust_sigma(diffs) / math.sqrt(2.0)


def log_noise(xs: Sequence[float]) -> Optional[float]:
    """Point noise of log(xs): relative noise, even across a curve's range; None if any x <= 0."""
    if len(xs) and min(xs) <= 0:
        return None
    # numpy's log, not math.log: the two differ in the last bit of ~0.1% of values, and row_log_noises
    # (whole curves at once) must give the same numbers.
    return diff_sigma(np.log(np.asarray(xs, dtype=float)).tolist())


# Row-wise twins of median, diff_sigma and log_noise over a 2-D array (one row per window), for curves
# replayed as arrays: the same operations in the same order, so each row gives the same bits.

def row_medians(xs: np.ndarray) -> np.ndarray:
    """median() of each row."""
    s = np.sort(xs, axis=1)
    mid = s.shape[1] // 2
    return s[:, mid] if s.shape[1] % 2 else 0.5 * (s[:, mid - 1] + s[:, mid])


def row_diff_sigmas(xs: np.ndarray) -> np.ndarray:
    """diff_sigma() of each row (of at least 3 values)."""
    diffs = xs[:, 1:] - xs[:, :-1]
    spread = row_medians(np.abs(diffs - row_medians(diffs)[:, None]))
    return MAD_TO_SIGMA * spread / math.sqrt(2.0)


def row_log_noises(xs: np.ndarray) -> np.ndarray:
    """log_noise() of each row, NaN where it is None."""
    positive = xs.min(axis=1) > 0
    noises = np.full(len(xs), np.nan)
    if positive.any():
        noises[positive] = row_diff_sigmas(np.log(xs[positive]))
    return noises


def rank_trend(xs: Sequence[float]) -> float:
    """Spearman's rank correlation of `xs` with time, in standard errors under no trend (about
    N(0, 1) for noise): below -2 a falling trend, above 2 a rising one; outliers count as ranks."""
    x = np.asarray(xs, dtype=float)
    n = len(x)
    if n < 4:
        return 0.0
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    changes = np.ones(n + 1, dtype=bool)
    changes[1:-1] = ordered[1:] != ordered[:-1]
    edges = np.flatnonzero(changes)  # where each run of ties begins (and n)
    counts = np.diff(edges)
    ranks = np.empty(n)
    ranks[order] = np.repeat(edges[:-1] + (counts - 1) / 2.0, counts)  # ties share their mean rank
    ranks -= ranks.mean()
    spread = float(np.sqrt(ranks @ ranks))
    if spread == 0.0:
        return 0.0  # a constant has no trend
    time = np.arange(n) - (n - 1) / 2.0
    rho = float(ranks @ time) / (spread * math.sqrt(n * (n * n - 1) / 12.0))
    return rho * math.sqrt(n - 1)
