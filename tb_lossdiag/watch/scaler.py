"""The grad-scaler probe: with watch(scaler=...), an iteration whose optimizer step the scaler
skipped still ends a step, and sampled steps read the scale the iteration used."""

import functools
from typing import Callable

import torch


class ScalerProbe:
    """Wraps `scaler.update()` (GradScaler has no hooks) to end skipped iterations and count them."""

    def __init__(self, scaler: torch.amp.GradScaler, end_skipped: Callable[[], None]):
        self._scaler = scaler
        self._end_skipped = end_skipped  # ends an iteration the scaler skipped, before update()
        self.stepped = False  # the optimizer stepped since the scaler's last update()
        self._skipped = 0  # iterations the scaler skipped since the last sampled step
        # update() ends every iteration, skipped or not: an instance attribute wraps it (remove()
        # deletes it, and the class method shows again).
        self._update = functools.partial(self._before_update, scaler.update)
        scaler.update = self._update  # type: ignore[method-assign]

    def remove(self) -> None:
        if self._scaler.__dict__.get("update") is self._update:
            del self._scaler.update

    def read_scale(self, record) -> None:
        """Queue the scale this iteration used (update() changes it in place, after this)."""
        scale = getattr(self._scaler, "_scale", None)  # None until the first scaler.scale()
        if isinstance(scale, torch.Tensor):
            record.scale = record.add(scale.detach().reshape(1).clone())

    def count_skipped(self) -> None:
        self._skipped += 1

    def take_skipped(self) -> int:
        """Iterations the scaler skipped since the last sampled step (this one included)."""
        skipped, self._skipped = self._skipped, 0
        return skipped

    def _before_update(self, update, *args, **kwargs):
        """An iteration whose step the scaler skipped ends here, then GradScaler.update() runs."""
        stepped, self.stepped = self.stepped, False
        if not stepped:
            self._end_skipped()
        return update(*args, **kwargs)
