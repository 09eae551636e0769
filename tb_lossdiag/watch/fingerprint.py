"""Fingerprint: which parameters no update moves, told without an optimizer (swap-only) from every
parameter's norm and sum at successive sampled steps."""

import math
from typing import Dict, Optional, Sequence, Tuple

Fingerprints = Tuple[Tuple[float, ...], Tuple[float, ...]]  # (weight norms, weight sums), by parameter


class Fingerprint:
    """The last sampled step's weight norms and sums, compared with the next one's."""

    def __init__(self, names: Sequence[str], numel: Sequence[int]):
        self._names = list(names)
        self._numel = list(numel)
        self._last: Optional[Fingerprints] = None

    def compare(self, norms: Sequence[float], sums: Sequence[float],
                grad_norms: Dict[str, float]) -> Tuple[bool, Tuple[str, ...]]:
        """(whether not one parameter moved since the last sampled step: exactly no update, the
        parameters no update moves) for a sampled step; remembers this one."""
        now: Fingerprints = (tuple(norms), tuple(sums))
        last, self._last = self._last, now
        if now == last:
            return True, ()
        return False, self._unchanged(now, last, grad_norms)

    def _unchanged(self, now: Fingerprints, last: Optional[Fingerprints],
                   grad_norms: Dict[str, float]) -> Tuple[str, ...]:
        """The parameters no update moves (left out of the optimizer, or an lr of 0): their norm and
        sum did not change since the last sampled step, though their gradient is at least that (per
        value) of a parameter that did change. A gradient too small to move float32 weights (a
        vanishing one, under SGD) is not that."""
        if last is None or len(last[1]) != len(now[1]):
            return ()  # the first sample, or a new graph extended the set: nothing to compare
        still = [a == b for a, b in zip(zip(*now), zip(*last))]
        rms = [grad_norms.get(name, 0.0) / math.sqrt(max(numel, 1)) for name, numel in zip(self._names, self._numel)]
        moved = [r for r, s in zip(rms, still) if not s]
        if not moved:
            return ()
        return tuple(name for name, s, r in zip(self._names, still, rms) if s and r > 0 and r >= min(moved))
