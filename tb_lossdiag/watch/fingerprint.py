"""Fingerprint: which parameters no update moves, told without an optimizer (swap-only) from every
parameter's norm, sum and version counter at successive sampled steps."""

import math
from typing import Dict, List, Optional, Sequence, Tuple

Fingerprints = Tuple[Tuple[float, ...], Tuple[float, ...]]  # (weight norms, weight sums), by parameter


class Fingerprint:
    """The last sampled step's weight norms, sums and versions, compared with the next one's."""

    def __init__(self, names: Sequence[str], numel: Sequence[int]):
        self._names = list(names)
        self._numel = list(numel)
        self._last: Optional[Fingerprints] = None
        self._versions: Tuple[int, ...] = ()
        self._moved = [False] * len(self._names)  # changed at a comparison since the first sample

    def compare(self, norms: Sequence[float], sums: Sequence[float], grad_norms: Dict[str, float],
                versions: Sequence[int] = ()) -> Tuple[bool, Tuple[str, ...]]:
        """(whether not one parameter moved since the last sampled step: exactly no update, the
        parameters no update moves) for a sampled step; remembers this one. `versions`: each
        parameter's version counter (Tensor._version) at that step."""
        now: Fingerprints = (tuple(norms), tuple(sums))
        last, self._last = self._last, now
        versions = tuple(versions)
        touched, self._versions = self._touched(versions), versions
        if now == last:
            return True, ()
        return False, self._unchanged(now, last, grad_norms, touched)

    def _touched(self, versions: Tuple[int, ...]) -> Optional[List[bool]]:
        """Per parameter, whether an in-place op (an optimizer step) ran on it since the last sampled
        step; None where no parameter's tells (updates through .data, or no versions given)."""
        if len(versions) != len(self._versions):
            return None
        touched = [a != b for a, b in zip(versions, self._versions)]
        return touched if any(touched) else None

    def _unchanged(self, now: Fingerprints, last: Optional[Fingerprints], grad_norms: Dict[str, float],
                   touched: Optional[List[bool]]) -> Tuple[str, ...]:
        """The parameters no update moves, among those whose norm and sum did not change since the
        last sampled step: exactly, those no update touched while updates touched others (left out
        of the optimizer: their version counter did not change); and, where updates ran on them (or
        no version tells: updates through .data), those whose gradient is at least that (per value)
        of a parameter that did change, and which never changed before (an lr of 0 all along, as
        watch() tells from the lr). A gradient too small to move float32 weights (a vanishing one,
        under SGD) is not that; nor is a parameter that trained, then met a decayed lr: an Adagrad
        step at ~1e-6 moves a weight by less than its norm and sum resolve (and a 2-class softmax
        bias's updates cancel in its sum)."""
        if last is None or len(last[1]) != len(now[1]):
            return ()  # the first sample, or a new graph extended the set: nothing to compare
        still = [a == b for a, b in zip(zip(*now), zip(*last))]
        moved_before, self._moved = self._moved, [m or not s for m, s in zip(self._moved, still)]
        untouched = [not t for t in touched] if touched is not None else [False] * len(still)
        rms = [grad_norms.get(name, 0.0) / math.sqrt(max(numel, 1)) for name, numel in zip(self._names, self._numel)]
        smallest_moved = min((r for r, s in zip(rms, still) if not s), default=math.inf)
        return tuple(name for name, s, u, m, r in zip(self._names, still, untouched, moved_before, rms)
                     if s and r > 0 and (u or (not m and r >= smallest_moved)))
