"""The activations probe: statistics of every leaf module's output during a sampled step's first
training forward (hooks on the leaves exist only for that forward)."""

import functools
import math
from typing import Callable, Dict, List, NamedTuple, Tuple

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from tb_lossdiag import stats as S
from tb_lossdiag.detectors.dead_activation import DeadActivation
from tb_lossdiag.units import UNIT_KINDS
from tb_lossdiag.watch.record import first_tensor

_ACTIVATION_ROWS = 16  # batch rows whose activations are measured on a sampled step, at most
# Values of an output measured at most (fewer rows of a large one): the statistics make a temporary
# of this size, at the forward pass's end where a step's memory peaks.
_ACTIVATION_VALUES = 1 << 15
# Values per unit measured at least: what dead_activation needs to call a unit dead.
_UNIT_SAMPLES = DeadActivation.Thresholds().min_samples


class ActivationEntry(NamedTuple):
    """One leaf module's output, and the slot of its statistics."""

    name: str
    kind: str
    numel: int  # values measured
    units: int
    slot: int  # S.activation_stats
    samples: int = 0  # values per unit behind the unit counts (more than numel // units with a window)


# Modules whose outputs have their channels in dim 1 ([N, C, ...]), and those whose outputs have
# their features last ([..., F]); an activation module's output is laid out as its input was.
_CHANNELS_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.GroupNorm,
                   nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                   nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
_FEATURES_LAST = (nn.Linear, nn.Bilinear, nn.LayerNorm, nn.RNNBase, nn.Embedding, nn.MultiheadAttention)
_LAYOUT_SETTERS = _CHANNELS_FIRST + _FEATURES_LAST


class ActivationProbe:
    """Hooks the leaf modules of `model` for one forward and measures their outputs."""

    def __init__(self, model: torch.nn.Module):
        self._leaves = [(name, m) for name, m in model.named_modules() if next(m.children(), None) is None]
        self._handles: List[RemovableHandle] = []
        self._features_last = False  # the layout of the last output measured in this forward
        # module name -> (per-unit non-zero counts of its last _UNIT_SAMPLES sampled forwards,
        # the values per unit of each): for outputs with too few values per unit in one forward
        self._windows: Dict[str, Tuple[torch.Tensor, List[int]]] = {}
        self._written: Dict[str, int] = {}  # module name -> sampled forwards counted into its window

    @property
    def hooked(self) -> bool:
        return bool(self._handles)

    def hook(self, measure: Callable) -> None:
        """Put `measure(name, module, args, output)` on every leaf module, for one forward."""
        self.unhook()
        self._features_last = False
        for name, module in self._leaves:
            self._handles.append(module.register_forward_hook(functools.partial(measure, name)))

    def unhook(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def measure(self, record, name: str, module, args, output) -> None:
        """Queue the statistics of one leaf module's output."""
        out = first_tensor(output)
        if isinstance(module, _LAYOUT_SETTERS):
            self._features_last = isinstance(module, _FEATURES_LAST)
        if out is None or not out.is_floating_point() or out.numel() == 0:
            return
        out = out.reshape(1) if out.dim() == 0 else out
        inp = first_tensor(args)
        kind = type(module).__name__
        unit_kind = UNIT_KINDS.get(kind)
        # Features of [N, F] and of an unbatched [F]; channels of [N, C, ...] unless the module
        # that made this layout puts features last ([N, T, C] sequences, [N, H, W, C] images).
        unit_dim = -1 if out.dim() <= 2 or self._features_last else 1
        units = out.shape[unit_dim] if unit_kind is not None else 0
        # The first rows of the batch tell the scale, dead and saturated units; the whole output's
        # sum (one cheap reduction) tells whether any value is NaN/Inf.
        if out.dim() >= 2:
            part = out[:_measured_rows(out, units)]
        else:
            part = out if units else out[:_ACTIVATION_VALUES]
        samples = part.numel() // units if units else 0
        seen = None
        with torch.no_grad():
            if unit_kind == "relu" and units and samples < _UNIT_SAMPLES:
                seen, samples = self._window(name, part, unit_dim, samples)
            slot = record.add(S.activation_stats(part, inp, unit_kind if units else None, out, unit_dim, seen))
        record.activations.append(ActivationEntry(name, kind, part.numel(), units, slot, samples))

    def _window(self, name: str, part: torch.Tensor, unit_dim: int, samples: int):
        """(per-unit non-zero counts, values per unit) over this and the module's last sampled
        forwards, for an output with fewer than _UNIT_SAMPLES values per unit (SGD on one example
        at a time): a unit is dead when it was 0 in every one of them."""
        counts = S.unit_nonzeros(part, unit_dim)
        window = self._windows.get(name)
        if window is None or window[0].shape[1:] != counts.shape or window[0].device != counts.device:
            window = self._windows[name] = (counts.new_zeros((_UNIT_SAMPLES, counts.numel())), [0] * _UNIT_SAMPLES)
            self._written[name] = 0
        rows, sizes = window
        row = self._written[name] % _UNIT_SAMPLES
        rows[row] = counts
        sizes[row] = samples
        self._written[name] += 1
        return rows.sum(0), sum(sizes)


def activation_stats(values, entries: List[ActivationEntry]) -> Tuple[S.ActivationStats, ...]:
    """The ActivationStats of a step's entries, in forward order (the last one is the output layer)."""
    found = []
    for k, entry in enumerate(entries):
        total, total_sq, nonzero, in_sum, flagged, whole = values[entry.slot]
        numel = entry.numel
        mean, std = S.moments(total, total_sq, numel)
        flagged = flagged if math.isfinite(flagged) else 0
        relu = UNIT_KINDS.get(entry.kind) == "relu"
        found.append(S.ActivationStats(
            name=entry.name, kind=entry.kind, numel=max(numel, entry.units * entry.samples), mean=mean, std=std,
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
