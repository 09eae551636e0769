"""EarlyUpdates: the optimizer steps a swap-only writer sees before it finds its parameters."""

import weakref
from typing import List

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook


class EarlyUpdates:
    """The optimizers that step before the swap-only watcher finds its parameters (one global
    post-step hook, a Python call per optimizer step, until taken off): a first loss logged after
    optimizer.step() then knows that an update already applied the gradients it finds."""

    def __init__(self) -> None:
        self._stepped: "weakref.WeakSet[torch.optim.Optimizer]" = weakref.WeakSet()
        # The hook holds this object only, never the writer.
        self._handle = register_optimizer_step_post_hook(self._step_ended)

    def _step_ended(self, optimizer, args, kwargs) -> None:
        self._stepped.add(optimizer)

    def applied(self, params: List[torch.Tensor]) -> bool:
        """Whether an optimizer holding any of `params` has stepped."""
        ids = {id(p) for p in params}
        return any(id(p) in ids for optimizer in self._stepped
                   for group in optimizer.param_groups for p in group["params"])

    def remove(self) -> None:
        self._handle.remove()
