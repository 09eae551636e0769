"""The watched parameters: which ones the optimizer applies, which are probed every step, and
per-layer totals. Built from (name, parameter) pairs, so nothing here needs the nn.Module.

Sharded parameters (DTensors: FSDP2's fully_shard, tensor parallelism) are measured on this rank's
shard, with no communication; their per-layer totals carry this rank's part of the job's global
norms (S.ShardNorms), which the reader combines across the ranks' runs.
"""

import math
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import torch

from tb_lossdiag import stats as S

_PROBE_VALUES = 1 << 16  # gradient values (of the smallest parameters) probed every step on CPU


class Parameters:
    """Named parameters and the optimizer (or None) that applies them."""

    def __init__(self, named: Iterable[Tuple[str, torch.Tensor]], optimizer=None,
                 layer_of: Optional[Sequence[str]] = None):
        self.named = list(named)
        # each parameter's layer: its module's path, or (swap-only) the op that takes it
        self.layer_of = (list(layer_of) if layer_of is not None
                         else [name.rpartition(".")[0] for name, _ in self.named])
        self.numel = [t.numel() for t in S.local([p for _, p in self.named])]  # values on this rank
        self._shares = _shares([p for _, p in self.named])
        self.sharded = self._shares is not None  # any DTensor: gradients are read on this rank's shard
        self.optimizer = optimizer
        self.measured: List[int] = []  # indices of the parameters whose gradients are measured
        self.probe: List[int] = []  # the smallest of them: their gradients are read every step
        self.probed: List[torch.Tensor] = []  # those parameters
        self.probed_on_cpu = True  # their gradients are: a gradient is on its parameter's device
        self.probe_names: Set[str] = set()
        self.refresh()

    def refresh(self) -> None:
        """The parameters whose gradients count: those the optimizer applies (all without one);
        and the smallest of them, whose gradients probe every step."""
        if self.optimizer is None:
            self.measured = list(range(len(self.named)))
        else:
            held = self._optimized_ids()
            self.measured = [i for i, (_, p) in enumerate(self.named) if id(p) in held]
        self.probe, total = [], 0
        self.probe_names = set()
        for i in sorted(self.measured, key=lambda i: self.numel[i]):
            total += self.numel[i]
            if self.probe and total > _PROBE_VALUES:
                break
            self.probe.append(i)
            self.probe_names.add(self.named[i][0])
        self.probed = [self.named[i][1] for i in self.probe]
        self.probed_on_cpu = all(t.is_cpu for t in S.local(self.probed))

    def facts(self) -> Dict[str, Tuple[str, ...]]:
        """StepStats' parameter facts: trainable but not optimized, frozen, without a gradient."""
        if self.optimizer is None:
            return {}
        held = self._optimized_ids()
        named = self.named
        return {
            "not_in_optimizer": tuple(n for n, p in named if p.requires_grad and id(p) not in held),
            "frozen_in_optimizer": tuple(n for n, p in named if not p.requires_grad and id(p) in held),
            "frozen": tuple(n for n, p in named if not p.requires_grad and id(p) not in held),
            "no_gradient": tuple(n for n, p in named if p.requires_grad and id(p) in held and p.grad is None),
        }

    def layers(self, grad_norms: Mapping[str, float], weights: Optional[Sequence[float]],
               delta_squares: Sequence[Tuple[int, float]]) -> Tuple[S.LayerStats, ...]:
        """Per-module totals from per-parameter gradient norms, weight norms (None: not measured)
        and (index, squared update) pairs."""
        measured = weights is not None
        if weights is None:  # the step ended before its gradients (remove() mid-step)
            weights = [0.0] * len(self.named)
        numel: Dict[str, int] = {}
        squares: Dict[str, float] = {}
        weight_sq: Dict[str, float] = {}
        for (name, _), layer, size, weight in zip(self.named, self.layer_of, self.numel, weights):
            if layer not in numel:
                numel[layer], squares[layer], weight_sq[layer] = 0, 0.0, 0.0
            numel[layer] += size
            squares[layer] += grad_norms.get(name, 0.0) ** 2
            weight_sq[layer] += weight ** 2
        delta_sq: Dict[str, float] = {}
        for index, square in delta_squares:
            layer = self.layer_of[index]
            delta_sq[layer] = delta_sq.get(layer, 0.0) + square
        ratios = {layer: math.sqrt(delta_sq[layer] / weight_sq[layer]) for layer in delta_sq if weight_sq[layer] > 0}
        shards = self._shard_norms(grad_norms, weights, delta_squares) if measured else {}
        return tuple(
            S.LayerStats(layer, numel[layer], math.sqrt(squares[layer]), math.sqrt(weight_sq[layer]),
                         ratios.get(layer), shards.get(layer))
            for layer in numel  # dicts keep the registration order
        )

    def _shard_norms(self, grad_norms: Mapping[str, float], weights: Sequence[float],
                     delta_squares: Sequence[Tuple[int, float]]) -> Dict[str, S.ShardNorms]:
        """Per layer, this rank's part of the job's global norms (nothing unless sharded): each
        square counted once over the ranks, divided among those holding the same values."""
        if self._shares is None:
            return {}
        shares, ranks = self._shares
        sums: Dict[str, List[float]] = {}  # layer -> [grad, weight, update, updated weight] squares
        for i, ((name, _), layer) in enumerate(zip(self.named, self.layer_of)):
            part = sums.setdefault(layer, [0.0] * 4)
            part[0] += shares[i] * grad_norms.get(name, 0.0) ** 2
            part[1] += shares[i] * weights[i] ** 2
        for i, square in delta_squares:
            part = sums[self.layer_of[i]]
            part[2] += shares[i] * square
            part[3] += shares[i] * weights[i] ** 2
        return {layer: S.ShardNorms(grad=math.sqrt(grad), weight=math.sqrt(weight), update=math.sqrt(update),
                                    updated_weight=math.sqrt(updated), ranks=ranks)
                for layer, (grad, weight, update, updated) in sums.items()}

    def _optimized_ids(self):
        return {id(p) for group in self.optimizer.param_groups for p in group["params"]}


def _shares(params: Sequence[torch.Tensor]) -> Optional[Tuple[List[float], int]]:
    """([1 / ranks holding each parameter's local values], ranks of the job) when any parameter is
    a DTensor, else None (DDP's replicated parameters are never summed over ranks). A plain tensor
    beside DTensors is taken to be the same on every rank."""
    counts = [S.replicas(p) for p in params]
    if all(count is None for count in counts):
        return None
    ranks = torch.distributed.get_world_size()  # a DTensor exists: the process group does (no collective)
    return [1.0 / (ranks if count is None else count) for count in counts], ranks
