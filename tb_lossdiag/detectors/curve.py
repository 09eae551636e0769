"""Shared numerics of the curve detectors: bounded per-tag state, robust statistics, loss traces."""

import collections
import functools
import math
import re
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from tb_lossdiag.detectors.base import Onsets

# MAD * 1.4826 estimates a Gaussian's standard deviation while ignoring outliers.
MAD_TO_SIGMA = 1.4826


def median(xs: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    s = sorted(xs)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])


def robust_sigma(xs: Sequence[float]) -> float:
    """Standard deviation estimated from the median absolute deviation (outliers barely move it)."""
    if len(xs) < 2:
        return 0.0
    m = median(xs)
    return MAD_TO_SIGMA * median([abs(x - m) for x in xs])


def diff_sigma(xs: Sequence[float]) -> float:
    """Point noise estimated from successive differences, so a trend does not count as noise."""
    if len(xs) < 3:
        return 0.0
    diffs = [b - a for a, b in zip(xs, xs[1:])]
    # Differences of white noise have sqrt(2) times its spread.
    return robust_sigma(diffs) / math.sqrt(2.0)


def detrend(xs: np.ndarray) -> np.ndarray:
    """`xs` minus its least-squares straight line through (i, xs[i])."""
    n = len(xs)
    i = np.arange(n) - (n - 1) / 2.0
    # Closed form of sum(i ** 2) for centered i.
    var_i = n * (n * n - 1) / 12.0
    slope = float(i @ xs) / var_i if var_i else 0.0
    return xs - xs.mean() - slope * i


def fmt(x: float) -> str:
    """A loss value as a user reads it: 4 significant digits, e.g. 0.4123 or 3.2e+04."""
    return f"{x:.4g}"


class PerTag:
    """A bounded map tag -> state: a run logging thousands of tags cannot grow it without end."""

    def __init__(self, factory: Callable[[], object], max_tags: int = 1024):
        self._factory = factory
        self._max_tags = max_tags
        self._states: "collections.OrderedDict[str, object]" = collections.OrderedDict()

    def get(self, tag: str):
        """The state of `tag`, made fresh when it is new (the least recently used tag is dropped)."""
        state = self._states.get(tag)
        if state is None:
            if len(self._states) >= self._max_tags:
                self._states.popitem(last=False)
            state = self._states[tag] = self._factory()
        else:
            self._states.move_to_end(tag)
        return state

    def peek(self, tag: str):
        """The state of `tag`, or None; never creates one."""
        return self._states.get(tag)


class Episodes:
    """Onsets of a persistent condition per key, remembering which keys are in one (for hysteresis)."""

    def __init__(self, reminders: int = 2, first_gap: int = 100):
        self._onsets = Onsets(reminders=reminders, first_gap=first_gap)
        self._active = set()

    def active(self, key) -> bool:
        """Whether `key` is in an episode now (so a relaxed rule may keep it there)."""
        return key in self._active

    def update(self, key, active: bool, step: int) -> Optional[str]:
        """'onset', 'reminder' or None, as Onsets.update."""
        if active:
            self._active.add(key)
        else:
            self._active.discard(key)
        return self._onsets.update(key, active, step)


def still(state: Optional[str]) -> str:
    """The word a reminder's message starts its verb with."""
    return "still " if state == "reminder" else ""


class Trace:
    """Bounded summary of one loss curve: recent values, start level, best level and noise.

    The best level is the lowest median of a block of consecutive values, not the lowest single
    value: the minimum of noisy single values drifts ever lower over millions of steps, which
    would make an ordinary value look like a large rise.
    """

    def __init__(self, recent: int = 64, block: int = 16, blocks: int = 32, start_points: int = 16):
        self.recent: "collections.deque[Tuple[int, float]]" = collections.deque(maxlen=recent)
        self.block = block
        self.start_points = start_points
        self.count = 0
        self.first: Optional[Tuple[int, float]] = None  # (step, value) of the first value
        self.start: Optional[float] = None  # median of the first `start_points` values
        self._early: List[float] = []
        self._current: List[float] = []
        # (median, linear noise, log noise or None) of the latest full blocks: a level and a noise
        # that a rise happening right now has not yet inflated.
        self.blocks: "collections.deque[Tuple[float, float, Optional[float]]]" = collections.deque(maxlen=blocks)
        self.best: Optional[Tuple[float, int, int]] = None  # (level, step, count then)

    def add(self, step: int, value: float) -> bool:
        """Record one value; False (and nothing recorded) when it is NaN or infinite."""
        if not math.isfinite(value):
            return False
        self.count += 1
        if self.first is None:
            self.first = (step, value)
        self.recent.append((step, value))
        if len(self._early) < self.start_points:
            self._early.append(value)
            self.start = median(self._early)
            # Early levels count as best only once a few values smooth out the first one's noise.
            if len(self._early) >= 5:
                self._lower_best(median(self._early[-8:]), step)
        self._current.append(value)
        if len(self._current) >= self.block:
            level = median(self._current)
            self.blocks.append((level, diff_sigma(self._current), log_noise(self._current)))
            self._lower_best(level, step)
            self._current = []
        return True

    def _lower_best(self, level: float, step: int) -> None:
        if self.best is None or level < self.best[0]:
            self.best = (level, step, self.count)

    def initial(self) -> Optional[float]:
        """The untrained loss: median of the first 5 values (a fast descent drags `start` below it)."""
        return median(self._early[:5]) if self._early else None

    def due(self, every: int) -> bool:
        """Whether a detector analysing every `every` values should analyse now."""
        return self.count % every == 0

    def values(self, n: Optional[int] = None) -> List[float]:
        """The last n recorded values (all kept ones when n is None), oldest first."""
        vals = [v for _, v in self.recent]
        return vals if n is None else vals[-n:]

    def level(self, n: int) -> float:
        """Median of the last n values."""
        return median(self.values(n))

    def noise(self) -> float:
        """Typical point noise: median over recent full blocks, or of the values so far before one."""
        if not self.blocks:
            return diff_sigma(self._early)
        return median([lin for _, lin, _ in self.blocks])

    def log_noise(self) -> Optional[float]:
        """Typical point noise of log(loss) (relative noise); None once a value was <= 0."""
        if not self.blocks:
            return log_noise(self._early)
        logs = [lg for _, _, lg in self.blocks]
        return None if any(lg is None for lg in logs) else median(logs)


def log_noise(xs: Sequence[float]) -> Optional[float]:
    """Point noise of log(xs): relative noise, even across a curve's range; None if any x <= 0."""
    if any(x <= 0 for x in xs):
        return None
    return diff_sigma([math.log(x) for x in xs])


_SPLIT_WORDS = re.compile(
    r"(?<![a-z])(train|training|trn|val|valid|validation|eval|evaluation|test|dev|holdout)(?![a-z])",
    re.I,
)


@functools.lru_cache(maxsize=256)  # called per logged value; a run has a handful of tags
def family(tag: str) -> str:
    """The tag with its split named out: "loss/train", "loss/val", "val_loss" -> "loss"."""
    key = _SPLIT_WORDS.sub("", tag.lower())
    return re.sub(r"[^a-z0-9]+", "/", key).strip("/")
