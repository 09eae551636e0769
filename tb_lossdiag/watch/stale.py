"""The stale-gradients probe: as backward starts, whether the gradients the last optimizer step
applied are still there, untouched (a missing optimizer.zero_grad())."""

import weakref
from typing import Dict, List, NamedTuple, Sequence, Tuple

import torch

from tb_lossdiag.watch.parameters import Parameters


class Inspection(NamedTuple):
    """What check found: gradients certainly left over, and gradients whose values decide it."""

    stale: Sequence[str]  # still the very tensor, at the very version, the last step left
    # after_update only: still the same tensor, changed in place after backward (clipped,
    # unscaled, or zeroed by zero_grad(set_to_none=False)); not zero means it was not cleared
    changed: Sequence[Tuple[str, torch.Tensor]]


_NOTHING = Inspection((), ())  # what inspect() finds when nothing was armed


class StaleGradients:
    """Remembers each applied gradient after a step and finds it unchanged at the next backward.

    With `after_update` (no optimizer seen: swap-only) it is armed at the end of every backward
    pass instead, and a gradient counts only once its parameter has changed since (an update
    applied it): the micro-batches of gradient accumulation are not stale.
    """

    def __init__(self, parameters: Parameters, after_update: bool = False):
        self._parameters = parameters
        self._after_update = after_update
        # parameter index -> (weakref to its .grad, its version when armed, its version when last
        # seen, the parameter's version when armed)
        self._armed: Dict[int, Tuple[weakref.ref, int, int, int]] = {}
        # after_update: the probed parameters' versions when last armed or marked, for updated()
        self._versions: List[int] = []

    @property
    def armed(self) -> bool:
        return bool(self._armed)

    def arm(self, gradients: bool = True, applied: bool = False, by_value: bool = False) -> None:
        """After optimizer.step() (or, after_update, backward): remember the gradients. Only what the
        optimizer holds: optimizer.zero_grad() never clears the others, and frozen_parameters
        already names them. Without `gradients` (after_update), only what updated() needs: the
        next backward is then not checked (a loop over every parameter less, twice). `applied`
        (after_update): an update already applied these gradients, so they count as it had run
        after arm(). `by_value` (after_update): whether each was cleared is told by its values (not
        zero: not cleared), not by its version: armed after the fact, it may have been zeroed in place
        already."""
        named = self._parameters.named
        since = -1 if applied else None  # -1: no version a tensor has, so "changed since arm()"
        if self._after_update:
            self._versions = [p._version if since is None else since for p in self._parameters.probed]
        self._armed = {} if not gradients else {
            i: (weakref.ref(g), -1 if by_value else g._version, g._version, p._version if since is None else since)
            for i in self._parameters.measured if (g := (p := named[i][1]).grad) is not None}

    def mark(self) -> None:
        """after_update: the probed parameters' versions now, for updated() (at a backward pass's
        start: no update runs within one, so it is as good as its end)."""
        self._versions = [p._version for p in self._parameters.probed]  # every backward pass: kept small

    def seen(self) -> None:
        """after_update: the gradients as they are now (after clipping or unscaling, before the next
        backward), so that a later in-place change is told from these."""
        if not self._armed:
            return  # most steps of a calm run: nothing was armed
        named = self._parameters.named
        self._armed = {i: (ref, version, g._version if ref() is (g := named[i][1].grad) and g is not None else seen,
                           param) for i, (ref, version, seen, param) in self._armed.items()}

    def updated(self) -> bool:
        """after_update: whether an update changed any probed parameter since the last arm() (an
        optimizer step that ran; one skipped, e.g. by a GradScaler finding inf/NaN gradients, changes
        none). The probed ones, the smallest, are biases and norm weights: every optimizer holds them."""
        return any(p._version != version for p, version in zip(self._parameters.probed, self._versions))

    def disarm(self) -> None:
        self._armed, self._versions = {}, []

    def check(self) -> Sequence[str]:
        """As backward starts, before any gradient accumulates: the parameters whose .grad is still
        the very tensor, at the very version, the last step left (nothing cleared it)."""
        return self.inspect().stale

    def inspect(self) -> Inspection:
        """check(), and after_update the gradients changed in place since backward whose values
        tell (reading them is the caller's: a sync on an accelerator)."""
        if not self._armed:
            return _NOTHING  # most steps of a calm run: nothing was armed
        armed, self._armed = self._armed, {}
        named = self._parameters.named
        stale: List[str] = []
        changed: List[Tuple[str, torch.Tensor]] = []
        for i, (ref, version, seen, param) in armed.items():
            name, p = named[i]
            g = p.grad
            if ref() is not g or g is None or g._version != seen:
                continue  # cleared, replaced, or changed since last seen (zero_grad(set_to_none=False))
            if self._after_update and p._version == param:
                continue  # no update since backward: gradient accumulation
            if version == seen:
                stale.append(name)
            else:
                changed.append((name, g))
        return Inspection(stale, changed)
