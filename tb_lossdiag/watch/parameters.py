"""The watched parameters: which ones the optimizer applies, which are probed every step, and
per-layer totals. Built from (name, parameter) pairs, so nothing here needs the nn.Module."""

import math
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import torch

from tb_lossdiag import stats as S

_PROBE_VALUES = 1 << 16  # gradient values (of the smallest parameters) probed every step on CPU


class Parameters:
    """Named parameters and the optimizer (or None) that applies them."""

    def __init__(self, named: Iterable[Tuple[str, torch.Tensor]], optimizer=None):
        self.named = list(named)
        self.layer_of = [name.rpartition(".")[0] for name, _ in self.named]
        self.optimizer = optimizer
        self.measured: List[int] = []  # indices of the parameters whose gradients are measured
        self.probe: List[int] = []  # the smallest of them: their gradients are read every step
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
        for i in sorted(self.measured, key=lambda i: self.named[i][1].numel()):
            total += self.named[i][1].numel()
            if self.probe and total > _PROBE_VALUES:
                break
            self.probe.append(i)
            self.probe_names.add(self.named[i][0])

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
        if weights is None:  # the step ended before its gradients (remove() mid-step)
            weights = [0.0] * len(self.named)
        numel, squares, weight_sq, order = {}, {}, {}, []
        for (name, param), layer, weight in zip(self.named, self.layer_of, weights):
            if layer not in numel:
                order.append(layer)
                numel[layer], squares[layer], weight_sq[layer] = 0, 0.0, 0.0
            numel[layer] += param.numel()
            squares[layer] += grad_norms.get(name, 0.0) ** 2
            weight_sq[layer] += weight ** 2
        delta_sq: Dict[str, float] = {}
        for index, square in delta_squares:
            layer = self.layer_of[index]
            delta_sq[layer] = delta_sq.get(layer, 0.0) + square
        ratios = {layer: math.sqrt(delta_sq[layer] / weight_sq[layer]) for layer in delta_sq if weight_sq[layer] > 0}
        return tuple(
            S.LayerStats(layer, numel[layer], math.sqrt(squares[layer]), math.sqrt(weight_sq[layer]),
                         ratios.get(layer))
            for layer in order
        )

    def _optimized_ids(self):
        return {id(p) for group in self.optimizer.param_groups for p in group["params"]}
