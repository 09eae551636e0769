"""The stale-gradients probe: as backward starts, whether the gradients the last optimizer step
applied are still there, untouched (a missing optimizer.zero_grad())."""

import weakref
from typing import Dict, List, Tuple

from tb_lossdiag.watch.parameters import Parameters


class StaleGradients:
    """Remembers each applied gradient after a step and finds it unchanged at the next backward."""

    def __init__(self, parameters: Parameters):
        self._parameters = parameters
        self._armed: Dict[int, Tuple[weakref.ref, int]] = {}  # parameter index -> (weakref to its .grad, its version) after a step

    @property
    def armed(self) -> bool:
        return bool(self._armed)

    def arm(self) -> None:
        """After optimizer.step(): remember the gradients it applied. Only what the optimizer holds:
        optimizer.zero_grad() never clears the others, and frozen_parameters already names them."""
        named = self._parameters.named
        self._armed = {i: (weakref.ref(g), g._version) for i in self._parameters.measured
                       if (g := named[i][1].grad) is not None}

    def disarm(self) -> None:
        self._armed = {}

    def check(self) -> List[str]:
        """As backward starts, before any gradient accumulates: the parameters whose .grad is still
        the very tensor, at the very version, the last step left (nothing cleared it)."""
        armed, self._armed = self._armed, {}
        named = self._parameters.named
        return [named[i][0] for i, (ref, version) in armed.items()
                if (g := named[i][1].grad) is not None and g._version == version and g is ref()]
