"""The gradients probe: every measured gradient's norm on sampled steps, and on the others a
cheap probe of the smallest ones that decides whether the step is measured in full. A sharded
(DTensor) gradient is measured on this rank's shard: its norm is the shard's."""

import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch

from tb_lossdiag import stats as S
from tb_lossdiag.watch.parameters import Parameters

_JUMP = 10.0  # an unsampled step whose gradient norm is this many times the last sampled one is shown


class GradientEntry(NamedTuple):
    """The gradient norms of one step (and a sampled step's weight norms), by slot."""

    names: Tuple[str, ...]  # the parameters with a gradient, in the order of the norms
    norms_slot: int
    weights_slot: Optional[int]  # every watched parameter's norm, sampled steps only


class GradientProbe:
    """Measures the gradients of `parameters` once per step, after backward; it works the same
    before optimizer.step() as after it, and needs no nn.Module."""

    def __init__(self, parameters: Parameters):
        self._parameters = parameters
        self._sampled_norm_sq = math.inf  # squared global gradient norm of the last sampled step
        self._sampled_probe_sq = math.inf  # the probe parameters' squared gradient norm then (CPU)

    def flag(self) -> Optional[bool]:
        """An unsampled step's cheap check, read at once on CPU: whether its probe gradients are
        non-finite or 10x the last sampled step's (False: a calm step, measured no further; no
        gradient yet is calm). None where they are not on CPU: decided after the transfer."""
        parameters = self._parameters
        if not parameters.probed_on_cpu:  # a gradient is on its parameter's device
            return None
        # Reading every gradient each step costs ~0.1 ms on a small model (per-op overhead, cold
        # memory). The smallest ones (biases, norm weights) sum dL/dh over the batch, so a NaN/Inf
        # anywhere upstream reaches them, and they grow when the others explode: their norm alone
        # decides whether an unsampled step is measured in full. One norm and one read each: timed
        # inside a small MLP's step this is ~25 us, ~15 of them the first norm (the reduction's code
        # is cold after the optimizer's step); every fused alternative (_foreach_norm + stack, cat +
        # one norm, dots, numpy) was slower.
        square = 0.0
        if parameters.sharded:
            for _, g in self._gradients(parameters.probe):
                square += _vector_norm(g).item() ** 2
        else:  # _gradients' plain case, read directly (a norm of a gradient that requires grad,
            # after create_graph=True, is the same number)
            for p in parameters.probed:
                if (grad := p.grad) is not None and not grad.is_sparse:
                    square += _vector_norm(grad).item() ** 2
        # Flagged: NaN (which compares False), Inf, or past 10x (squared: no sqrt).
        return not square <= _JUMP ** 2 * self._sampled_probe_sq or square == math.inf

    def measure(self, record) -> None:
        """Queue the step's gradient norms, once; an unsampled step is flag()ged first (a calm one
        is measured no further)."""
        if record.measured:
            return
        if not record.sampled:
            record.flagged = self.flag()
            if record.flagged is False:
                return
        self.measure_all(record)

    def measure_all(self, record) -> None:
        """Queue the norm of every measured gradient (and, sampled, of every parameter)."""
        parameters = self._parameters
        present = self._gradients(parameters.measured)
        weights = None
        if record.sampled:
            weights = record.add(S.norms([p for _, p in parameters.named]))
            record.facts = parameters.facts()
        record.gradients = GradientEntry(
            names=tuple(parameters.named[i][0] for i, _ in present),
            norms_slot=record.add(S.norms([g for _, g in present])),
            weights_slot=weights,
        )

    def review(self, record) -> bool:
        """After the transfer: whether the step reaches the detectors on its gradients' account
        (sampled, or an unsampled one non-finite or 10x the last sampled step's norm)."""
        entry = record.gradients
        norms = record.values[entry.norms_slot] if entry is not None else []
        norm_sq = sum(v * v for v in norms)
        if record.sampled:
            if math.isfinite(norm_sq):
                self._sampled_norm_sq = norm_sq
            if entry is not None:  # the reference of the unsampled steps' probe (CPU)
                probe_names = self._parameters.probe_names
                self._sampled_probe_sq = sum(v * v for name, v in zip(entry.names, norms) if name in probe_names)
            return True
        if record.flagged is None:  # decided here for steps read late (accelerators)
            record.flagged = not math.isfinite(norm_sq) or norm_sq > _JUMP ** 2 * self._sampled_norm_sq
        return record.flagged

    @staticmethod
    def norms(record) -> Dict[str, float]:
        """Parameter name -> gradient norm of a read record."""
        entry = record.gradients
        return dict(zip(entry.names, record.values[entry.norms_slot])) if entry is not None else {}

    @staticmethod
    def weights(record) -> Optional[List[float]]:
        """Every watched parameter's norm of a read sampled record (None: not measured)."""
        entry = record.gradients
        return record.values[entry.weights_slot] if entry is not None and entry.weights_slot is not None else None

    def _gradients(self, indices: Sequence[int]) -> List[Tuple[int, torch.Tensor]]:
        """(index, gradient on this rank, detached) of the parameters among `indices` that have a
        dense gradient: the one place the probes read .grad."""
        named = self._parameters.named
        present = [(i, g) for i in indices if (g := named[i][1].grad) is not None and not g.is_sparse]
        if not self._parameters.sharded:  # no DTensor: S.local's per-tensor checks are not needed
            return [(i, g.detach() if g.requires_grad else g) for i, g in present]  # create_graph=True
        return list(zip([i for i, _ in present], S.local([g for _, g in present])))


_vector_norm = torch.linalg.vector_norm
