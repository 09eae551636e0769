"""The activations probe: statistics of every leaf module's output during a sampled step's first
training forward (hooks on the leaves exist only for that forward)."""

import dataclasses
import functools
import math
from typing import Callable, List, Tuple

import torch

from tb_lossdiag import stats as S
from tb_lossdiag.detectors.dead_activation import DeadActivation
from tb_lossdiag.watch.record import first_tensor

_ACTIVATION_ROWS = 16  # batch rows whose activations are measured on a sampled step, at most
# Values of an output measured at most (fewer rows of a large one): the statistics make a temporary
# of this size, at the forward pass's end where a step's memory peaks.
_ACTIVATION_VALUES = 1 << 15
# Values per unit measured at least: what dead_activation needs to call a unit dead.
_UNIT_SAMPLES = DeadActivation.Thresholds().min_samples


@dataclasses.dataclass(frozen=True)
class ActivationEntry:
    """One leaf module's output, and the slot of its statistics."""

    name: str
    kind: str
    numel: int  # values measured
    units: int
    slot: int  # S.activation_stats


class ActivationProbe:
    """Hooks the leaf modules of `model` for one forward and measures their outputs."""

    def __init__(self, model: torch.nn.Module):
        self._leaves = [(name, m) for name, m in model.named_modules() if next(m.children(), None) is None]
        self._handles = []

    @property
    def hooked(self) -> bool:
        return bool(self._handles)

    def hook(self, measure: Callable) -> None:
        """Put `measure(name, module, args, output)` on every leaf module, for one forward."""
        self.unhook()
        for name, module in self._leaves:
            self._handles.append(module.register_forward_hook(functools.partial(measure, name)))

    def unhook(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @staticmethod
    def measure(record, name: str, module, args, output) -> None:
        """Queue the statistics of one leaf module's output."""
        out = first_tensor(output)
        if out is None or not out.is_floating_point() or out.numel() == 0:
            return
        inp = first_tensor(args)
        kind = type(module).__name__
        unit_kind = S.UNIT_KINDS.get(kind)
        units = out.shape[1] if unit_kind is not None and out.dim() >= 2 else 0
        # The first rows of the batch tell the scale, dead and saturated units; the whole output's
        # sum (one cheap reduction) tells whether any value is NaN/Inf.
        part = out[:_measured_rows(out, units)] if out.dim() >= 2 else out[:_ACTIVATION_VALUES]
        with torch.no_grad():
            slot = record.add(S.activation_stats(part, inp, unit_kind if units else None, out))
        record.activations.append(ActivationEntry(name, kind, part.numel(), units, slot))


def activation_stats(values, entries: List[ActivationEntry]) -> Tuple[S.ActivationStats, ...]:
    """The ActivationStats of a step's entries, in forward order (the last one is the output layer)."""
    found = []
    for k, entry in enumerate(entries):
        total, total_sq, nonzero, in_sum, flagged, whole = values[entry.slot]
        numel = entry.numel
        mean, std = S.moments(total, total_sq, numel)
        flagged = flagged if math.isfinite(flagged) else 0
        relu = S.UNIT_KINDS.get(entry.kind) == "relu"
        found.append(S.ActivationStats(
            name=entry.name, kind=entry.kind, numel=numel, mean=mean, std=std,
            zero_fraction=1.0 - nonzero / numel if math.isfinite(nonzero) else math.nan,
            finite=math.isfinite(whole), input_finite=math.isfinite(in_sum),
            nan=math.isnan(whole), input_nan=math.isnan(in_sum), units=entry.units,
            dead_units=int(flagged) if relu else 0,
            saturated_fraction=0.0 if relu or not entry.units else flagged / numel,
            is_output=k == len(entries) - 1,
        ))
    return tuple(found)


def _measured_rows(out: torch.Tensor, units: int) -> int:
    """Rows of a batch output to measure: up to _ACTIVATION_ROWS within _ACTIVATION_VALUES, yet
    enough for _UNIT_SAMPLES values per unit (a wide layer's rows are small next to its weights)."""
    per_row = out.numel() // out.shape[0]
    rows = min(_ACTIVATION_ROWS, max(1, _ACTIVATION_VALUES // per_row))
    if units:
        rows = max(rows, -(-_UNIT_SAMPLES * units // per_row))
    return rows
