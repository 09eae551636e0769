"""What the curve detectors share: their base class, bounded per-tag state, episodes, loss traces, number format."""

import collections
import functools
import itertools
import math
import re
from typing import Callable, Dict, Hashable, List, Optional, Sequence, Set, Tuple

import numpy as np

from tb_lossdiag.detectors.base import Detector, LossPoint, Onsets
from tb_lossdiag.events import Event
from tb_lossdiag.robust import diff_sigma, log_noise, median, row_diff_sigmas, row_log_noises, row_medians


def detrend(xs: np.ndarray) -> np.ndarray:
    """`xs` minus its least-squares straight line through (i, xs[i])."""
    n = len(xs)
    i, var_i = _centered(n)
    slope = float(i @ xs) / var_i if var_i else 0.0
    # np.add.reduce is what ndarray.mean() sums with, without its Python-level checks.
    return xs - float(np.add.reduce(xs)) / n - slope * i


@functools.lru_cache(maxsize=64)  # a detector detrends windows of one or two lengths, thousands of times
def _centered(n: int) -> Tuple[np.ndarray, float]:
    """(i - its mean for i in 0..n-1, the closed form of the sum of their squares)."""
    i = np.arange(n) - (n - 1) / 2.0
    i.flags.writeable = False  # shared by every call
    return i, n * (n * n - 1) / 12.0


def fmt(x: float) -> str:
    """A number as a user reads it: 4 significant digits, e.g. 0.4123, 2.5e-5 or -1.2e10 (never "0" for 2e-5)."""
    text = f"{x:.4g}"
    mantissa, exp, power = text.partition("e")
    # Python pads exponents ("2e-05", "3.2e+04"); a user reads "2e-5" and "3.2e4".
    return f"{mantissa}e{int(power)}" if exp else text


class PerTag:
    """A bounded map tag -> state: a run logging thousands of tags cannot grow it without end."""

    def __init__(self, factory: Callable[[], object], max_tags: int = 1024):
        self._factory = factory
        self._max_tags = max_tags
        self._states: "collections.OrderedDict[str, object]" = collections.OrderedDict()
        self._last: Tuple[Optional[str], object] = (None, None)  # the most recently used (tag, state)

    def get(self, tag: str):
        """The state of `tag`, made fresh when it is new (the least recently used tag is dropped)."""
        last_tag, state = self._last
        if tag == last_tag:
            return state  # runs log one tag many times in a row: it is already the most recent
        state = self._states.get(tag)
        if state is None:
            if len(self._states) >= self._max_tags:
                self._states.popitem(last=False)
            state = self._states[tag] = self._factory()
        else:
            self._states.move_to_end(tag)
        self._last = (tag, state)
        return state

    def peek(self, tag: str):
        """The state of `tag`, or None; never creates one."""
        return self._states.get(tag)


class Episodes:
    """Onsets of a persistent condition per key, remembering which keys are in one (for hysteresis).

    With `ends`, an episode that was reported says "ended" when its condition stops holding.
    """

    def __init__(self, reminders: int = 2, first_gap: int = 100, max_onsets: int = 3, ends: bool = False):
        self._onsets = Onsets(reminders=reminders, first_gap=first_gap, max_onsets=max_onsets)
        self._active: Set[Hashable] = set()
        self._ends = ends
        self._starts: Dict[Hashable, int] = {}  # key -> start step of its last reported episode
        self._running: Set[Hashable] = set()  # keys whose reported episode has not ended

    def active(self, key) -> bool:
        """Whether `key` is in an episode now (so a relaxed rule may keep it there)."""
        return key in self._active

    def start(self, key) -> Optional[int]:
        """The start step of `key`'s last reported episode (with ends), or None."""
        return self._starts.get(key)

    def update(self, key, active: bool, step: int, start: Optional[int] = None) -> Optional[str]:
        """'onset', 'reminder', 'ended' (with ends) or None, as Onsets.update; `start` (default
        `step`) is where an episode reported now began."""
        if active:
            self._active.add(key)
        else:
            self._active.discard(key)
        state = self._onsets.update(key, active, step)
        if self._ends and state == "onset":
            self._starts[key] = step if start is None else start
            self._running.add(key)
        elif self._ends and not active and key in self._running:
            self._running.discard(key)
            return "ended"
        return state


def still(state: Optional[str]) -> str:
    """The word a reminder's message starts its verb with."""
    return "still " if state == "reminder" else ""


class CurveDetector(Detector):
    """A loss-curve detector: one bounded state per tag and episodes of its persistent condition.

    Subclasses implement `judge`. Validation values reach it only when `validation` is True: a
    rising validation curve is overfitting's to judge, not the optimizer's.
    """

    deferrable = True
    validation = False
    ends = False  # whether the end of a reported episode is reported (an "ended" info event)

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self.states = PerTag(self.new_state)
        self.episodes = self.new_episodes()

    def new_state(self):
        """A fresh per-tag state: the tag's Trace unless a subclass keeps more."""
        return Trace()

    def new_episodes(self) -> Episodes:
        """The episodes of the detector's condition, with the reminders its thresholds ask for."""
        return Episodes(reminders=self.thresholds.reminders, ends=self.ends)

    def on_loss(self, point):
        if point.is_validation and not self.validation:
            return ()
        return self.judge(point, self.states.get(point.tag))

    def on_losses(self, tag: str, steps: np.ndarray, values: np.ndarray,
                  validation: bool) -> List[Tuple[int, Sequence[Event]]]:
        """on_loss() of consecutive values of one tag (other tags' values may come before or after: each
        tag has its state, unless `key` joins them), as (index, events) where there are some. While the
        state is `calm`, only the values `marks` names are judged one by one; the others reach the state
        in bulk through `absorb` (a replayed curve's values are mostly bookkeeping)."""
        if validation and not self.validation:
            return []  # as on_loss()
        found = []
        state = self.states.get(self.key(tag))
        finite = np.isfinite(values)
        breaks = np.append(np.flatnonzero(~finite), len(values))  # the non-finite values, then the end
        finite, n, i, run_end = finite.tolist(), len(values), 0, 0
        marks: Optional[np.ndarray] = None  # absolute indices, for values before run_end
        while i < n:
            if self.calm(tag, state) and finite[i]:
                if marks is None or i >= run_end:
                    run_end = int(breaks[np.searchsorted(breaks, i)])  # the finite run [i, run_end)
                    ahead = self.marks(state, steps[i:run_end], values[i:run_end])
                    marks = None if ahead is None else i + ahead
                if marks is not None:
                    at = np.searchsorted(marks, i)
                    stop = int(marks[at]) if at < len(marks) else run_end
                    if stop > i:
                        self.absorb(tag, state, steps[i:stop], values[i:stop])
                        i = stop
                        continue
            events = self.on_loss(LossPoint(tag, int(steps[i]), float(values[i]), validation))
            if events:
                found.append((i, events))
            i += 1
        return found

    def key(self, tag: str) -> str:
        """The key of the state a tag's values go to."""
        return tag

    def calm(self, tag: str, state) -> bool:
        """Whether, in this state, values that `marks` does not name need no judging one by one."""
        return False

    def marks(self, state, steps: np.ndarray, values: np.ndarray) -> Optional[np.ndarray]:
        """Indices (sorted) of the finite values ahead that a calm state must judge one by one: a
        cheap test over all of them says where judge() might do more than bookkeeping. None: not
        known in this state (each value is judged)."""
        return None

    def absorb(self, tag: str, state, steps: np.ndarray, values: np.ndarray) -> None:
        """What judge() of each of these finite, unmarked values does to a calm state."""
        state.extend(steps, values)

    def judge(self, point, state) -> Sequence[Event]:
        """Events for one value of the curve whose state is `state`."""
        raise NotImplementedError

    def ended(self, point, start: int, what: str, detail: str, hint: str) -> Event:
        """The info event saying `what`, which began at step `start`, ended at this value's step."""
        return self.event(
            point.step,
            "info",
            point.tag,
            f"{what} ended at step {point.step} (steps {start}\u2013{point.step}): {detail}",
            hint,
            ended=1.0,
            start_step=start,
            end_step=point.step,
        )


_INF = math.inf
BlockStats = Tuple[float, float, Optional[float]]  # (median, linear noise, log noise or None)


@functools.lru_cache(maxsize=128)
def block_stats(block: Tuple[float, ...]) -> BlockStats:
    """A full block's level and noises. Cached: the curve detectors of one tag each keep a Trace
    of the same values, so the same blocks reach this once per detector (a median and two noise
    estimates cost ~100x the lookup)."""
    return median(block), diff_sigma(block), log_noise(block)


# Blocks of a replayed curve by the address of their first value and their number (the detectors of
# one tag take the same arrays in turn); each entry holds its array, so no other can take that address.
_ROWS: Dict[Tuple[int, int, int], Tuple[np.ndarray, List[BlockStats]]] = {}


def rows_block_stats(values: np.ndarray, block: int) -> List[BlockStats]:
    """block_stats() of each run of `block` values of `values` (its length a multiple of `block`)."""
    key = (values.__array_interface__["data"][0], len(values), block)
    hit = _ROWS.get(key)
    if hit is None:
        rows = values.reshape(-1, block)
        logs = [None if lg != lg else lg for lg in row_log_noises(rows).tolist()]
        if len(_ROWS) >= 64:
            _ROWS.clear()
        hit = _ROWS[key] = (values, list(zip(row_medians(rows).tolist(), row_diff_sigmas(rows).tolist(), logs)))
    return hit[1]


class Trace:
    """Bounded summary of one loss curve: recent values, start level, best level and noise.

    The best level is the lowest median of a block of consecutive values, not the lowest single
    value: the minimum of noisy single values drifts ever lower over millions of steps, which
    would make an ordinary value look like a large rise.
    """

    def __init__(self, recent: int = 64, block: int = 16, blocks: int = 32, start_points: int = 16):
        self.recent: "collections.deque[Tuple[int, float]]" = collections.deque(maxlen=recent)
        self._values: "collections.deque[float]" = collections.deque(maxlen=recent)  # recent's values alone
        self.block = block
        self.start_points = start_points
        self.count = 0
        self.first: Optional[Tuple[int, float]] = None  # (step, value) of the first value
        self.start: Optional[float] = None  # median of the first `start_points` values
        self._early: List[float] = []
        self._current: List[float] = []
        # (median, linear noise, log noise or None) of the latest full blocks: a level and a noise
        # that a rise happening right now has not yet inflated.
        self.blocks: "collections.deque[BlockStats]" = collections.deque(maxlen=blocks)
        self.best: Optional[Tuple[float, int, int]] = None  # (level, step, count then)
        self._noises: Optional[Tuple[float, Optional[float]]] = None  # noise() and log_noise() of these blocks

    def add(self, step: int, value: float) -> bool:
        """Record one value; False (and nothing recorded) when it is NaN or infinite."""
        if not -_INF < value < _INF:
            return False
        self.count += 1
        if self.first is None:
            self.first = (step, value)
        self.recent.append((step, value))
        self._values.append(value)
        if self.count <= self.start_points:  # every value recorded so far is an early one
            self._early.append(value)
            self.start = median(self._early)
            # Early levels count as best only once a few values smooth out the first one's noise.
            if len(self._early) >= 5:
                self._lower_best(median(self._early[-8:]), step, self.count)
        current = self._current
        current.append(value)
        if len(current) >= self.block:
            self._block(block_stats(tuple(current)), step, self.count)
            self._current = []
        return True

    def extend(self, steps: np.ndarray, values: np.ndarray) -> None:
        """add() each of many finite values (arrays), the full blocks in one go."""
        early = max(0, self.start_points - self.count)
        for step, value in zip(steps[:early].tolist(), values[:early].tolist()):
            self.add(step, value)
        steps, values = steps[early:], values[early:]
        n = len(values)
        if not n:
            return
        keep = self.recent.maxlen or n
        tail = values[-keep:].tolist()
        self.recent.extend(zip(steps[-keep:].tolist(), tail))
        self._values.extend(tail)
        count = self.count
        self.count += n
        blocks = self.coming_blocks(values)
        for end, stats in blocks:
            self._block(stats, int(steps[end]), count + end + 1)
        if blocks:
            self._current = values[blocks[-1][0] + 1:].tolist()
        else:
            self._current.extend(values.tolist())

    def coming_blocks(self, values: np.ndarray) -> List[Tuple[int, BlockStats]]:
        """(index of its last value, statistics) of each block these finite values would complete."""
        size = self.block
        head = size - len(self._current)
        if len(values) < head:
            return []
        full = (len(values) - head) // size
        stats = [block_stats(tuple(self._current + values[:head].tolist()))]
        if full:
            stats += rows_block_stats(values[head: head + size * full], size)
        return list(zip(range(head - 1, len(values), size), stats))

    def _block(self, stats: BlockStats, step: int, count: int) -> None:
        """Record a full block's statistics, completed at `step` when `count` values were in."""
        self.blocks.append(stats)
        self._noises = None
        self._lower_best(stats[0], step, count)

    def _lower_best(self, level: float, step: int, count: int) -> None:
        if self.best is None or level < self.best[0]:
            self.best = (level, step, count)

    def bests(self, values: np.ndarray) -> np.ndarray:
        """The best level after each of these finite values would be added."""
        lows = np.full(len(values), self.best[0] if self.best else np.inf)
        for end, (level, _, _) in self.coming_blocks(values):
            lows[end] = min(level, lows[end])
        return np.minimum.accumulate(lows)

    @property
    def mature(self) -> bool:
        """Whether `blocks` full blocks are in: every window a detector keeps is full, so what it
        would find over a stretch of values can be bounded from arrays."""
        return len(self.blocks) == self.blocks.maxlen

    def initial(self) -> Optional[float]:
        """The untrained loss: median of the first 5 values (a fast descent drags `start` below it)."""
        return median(self._early[:5]) if self._early else None

    def due(self, every: int) -> bool:
        """Whether a detector analysing every `every` values should analyse now."""
        return self.count % every == 0

    def values(self, n: Optional[int] = None) -> List[float]:
        """The last n recorded values (all kept ones when n is None), oldest first."""
        values = self._values
        if n is None or n >= len(values):
            return list(values)
        return list(itertools.islice(values, len(values) - n, None)) if n > 0 else []

    def level(self, n: int) -> float:
        """Median of the last n values."""
        return median(self.values(n))

    def noise(self) -> float:
        """Typical point noise: median over recent full blocks, or of the values so far before one."""
        if not self.blocks:
            return diff_sigma(self._early)
        return self._block_noises()[0]

    def log_noise(self) -> Optional[float]:
        """Typical point noise of log(loss) (relative noise); None once a value was <= 0."""
        if not self.blocks:
            return log_noise(self._early)
        return self._block_noises()[1]

    def _block_noises(self) -> Tuple[float, Optional[float]]:
        """(median linear noise, median log noise or None) of the full blocks, kept until the next one."""
        if self._noises is None:
            logs = [lg for _, _, lg in self.blocks]
            self._noises = (
                median([lin for _, lin, _ in self.blocks]),
                None if None in logs else median(logs),  # type: ignore[arg-type]  # no None past the test
            )
        return self._noises


_SPLIT_WORDS = re.compile(
    r"(?<![a-z])(train|training|trn|val|valid|validation|eval|evaluation|test|dev|holdout)(?![a-z])",
    re.I,
)


@functools.lru_cache(maxsize=256)  # called per logged value; a run has a handful of tags
def family(tag: str) -> str:
    """The tag with its split named out: "loss/train", "loss/val", "val_loss" -> "loss"."""
    key = _SPLIT_WORDS.sub("", tag.lower())
    return re.sub(r"[^a-z0-9]+", "/", key).strip("/")
