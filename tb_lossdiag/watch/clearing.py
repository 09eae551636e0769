"""ClearTiming: whether a loop clears its gradients (optimizer.zero_grad() right after step()) before
it logs the loss, learnt at a run's start. Swap-only measures a step when its loss is logged; in such
a loop no gradient is left by then (set_to_none, the default) or only zeros (set_to_none=False),
so its gradients are measured as each backward ends, for the step logged next."""

from typing import List, Optional, Sequence

import torch


class ClearTiming:
    """Learnt from the probed parameters' gradients between a backward's end and the loss's logging."""

    def __init__(self) -> None:
        self.before_log = False  # the loop clears before logging: measure at each backward's end
        self.known = False  # learnt (the loop's order does not change)
        self._end_versions: Optional[List[Optional[int]]] = None  # at the last backward's end

    def backward_ended(self, probed: Sequence[torch.Tensor]) -> None:
        """At a backward's end (while learning): the probed gradients' versions."""
        if not self.known:
            self._end_versions = [None if (g := p.grad) is None else g._version for p in probed]

    def suspect(self) -> None:
        """The first loss found comes with no gradient at all: its backward is still to come, or the
        loop cleared them after it. Measured at the next backward's end in case of the latter;
        logged() confirms or refutes it (a claimed backward refutes it first)."""
        self.before_log = True

    def logged(self, probed: Sequence[torch.Tensor]) -> Optional[bool]:
        """At a loss logged after its backward (while learning): True when every probed gradient is
        gone (cleared); None when each changed in place since the backward's end (cleared if all
        are zero: read() tells; clipping changes them too); False when neither, or not known yet
        (the run's first backward ran before any hook)."""
        grads = [p.grad for p in probed]
        if all(g is None for g in grads):
            self.before_log = self.known = True
            return True
        self.before_log = False  # a suspicion refuted: there are gradients to measure
        ends, self._end_versions = self._end_versions, None
        if ends is None:
            return False
        if all(g is not None and end is not None and g._version != end for g, end in zip(grads, ends)):
            return None
        self.known = True
        return False

    def read(self, grad_norms: Sequence[float]) -> bool:
        """The values of the gradients logged() found changed in place: whether they were cleared
        (every one exactly zero, as zero_grad(set_to_none=False) leaves them)."""
        self.known = True
        self.before_log = bool(grad_norms) and not any(grad_norms)
        return self.before_log

    def logged_before_backward(self) -> None:
        """The loss is logged before its backward (measured at that backward's end already)."""
        self.known, self.before_log = True, False
