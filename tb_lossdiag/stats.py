"""Fused statistics of tensors, and StepStats: the numbers one watched step hands the model detectors.

The tensor functions return small device tensors and never read them: the watch reads everything
of a step in one host transfer (`to_host`). The recipes follow CPU timings of these ops on
activation-sized tensors: `sum`, `dot` and `sign().abs_().sum()`
are cheap; `std` is ~12x slower than `sum`, `isfinite().sum()` ~40x, `var_mean` and
`count_nonzero` 40-60x. A DTensor (FSDP2, tensor parallelism) is measured on this rank's shard,
with no communication.
"""

import dataclasses
import functools
import math
import sys
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch

from tb_lossdiag.units import SATURATION


# -- device side: small tensors, no host sync ------------------------------------------------


def _sum(x: torch.Tensor) -> torch.Tensor:
    # Half-precision sums overflow at 65504: accumulate in float32 without copying x.
    return x.sum(dtype=torch.float32) if x.element_size() < 4 else x.sum()


def _sum_sq(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(-1)
    if flat.dtype not in (torch.float32, torch.float64):
        flat = flat.float()
    return torch.dot(flat, flat)


def _per_unit(mask_or_values: torch.Tensor, unit_dim: int) -> torch.Tensor:
    """Sums over every dim but `unit_dim`, in float32."""
    dims = [d for d in range(mask_or_values.dim()) if d != unit_dim % mask_or_values.dim()]
    # sum(dim=[]) would sum everything: an unbatched output holds one value per unit already.
    return mask_or_values.sum(dim=dims, dtype=torch.float32) if dims else mask_or_values.float()


def unit_nonzeros(output: torch.Tensor, unit_dim: int = 1) -> torch.Tensor:
    """Per unit (output dim `unit_dim`), how many of its values are not 0."""
    return _per_unit(_here(output).ne(0), unit_dim)


def activation_stats(output: torch.Tensor, inp: Optional[torch.Tensor], unit_kind: Optional[str],
                     whole: Optional[torch.Tensor] = None, unit_dim: int = 1,
                     seen: Optional[torch.Tensor] = None) -> torch.Tensor:
    """[sum, sum of squares, non-zeros, input sum, flagged, sum of `whole`] of a module's output.

    `output` may be the first rows of the batch and `whole` the full output (default: `output`),
    whose sum is finite exactly when no value is NaN/Inf. Flagged is, for "relu", the units
    (output dim `unit_dim`: features of [N, F], channels of [N, C, ...], the last dim of a
    sequence [N, T, C]) zero for every sample, or, given `seen` (per-unit non-zero counts over
    several forwards, see unit_nonzeros), zero in all of them; for "sigmoid" and "tanh", the
    output values in the flat region (beyond SATURATION); 0 for other modules.
    """
    # ~10 small ops, each a dispatch that costs more in a real step (cold caches) than its math:
    # no per-part dtype casts (stack promotes), no device move unless the input is elsewhere.
    output, inp, whole, seen = _here(output), _here(inp), _here(whole), _here(seen)
    nonzero = output.sign().abs_()
    total = _sum(output)
    if unit_kind == "relu" and seen is None:
        per_unit = _per_unit(nonzero, unit_dim)
        nonzeros, flagged = per_unit.sum(), (per_unit == 0).sum()
    elif unit_kind == "relu" and seen is not None:
        nonzeros, flagged = _sum(nonzero), (seen == 0).sum()
    elif unit_kind is not None:
        centred = output - 0.5 if unit_kind == "sigmoid" else output
        limit = SATURATION / 2 if unit_kind == "sigmoid" else SATURATION
        nonzeros, flagged = _sum(nonzero), (centred.abs() > limit).sum()
    else:
        nonzeros, flagged = _sum(nonzero), total.new_zeros(())
    in_sum = _sum(inp) if inp is not None and inp.is_floating_point() else total.new_zeros(())
    if in_sum.device != total.device:
        in_sum = in_sum.to(total.device)
    whole_sum = total if whole is None else _sum(whole)
    return torch.stack([total, _sum_sq(output), nonzeros, in_sum, flagged, whole_sum])


def input_stats(x: torch.Tensor) -> torch.Tensor:
    """[sum, sum of squares, max |x|] of a floating input batch."""
    # max(max, -min) rather than abs().amax(): as fast, without a temporary copy of the batch.
    x = _here(x)
    absmax = torch.maximum(x.amax(), x.amin().neg())
    return torch.stack([_sum(x).float(), _sum_sq(x).float(), absmax.float()])


def finiteness_probe(x: torch.Tensor) -> torch.Tensor:
    """A scalar that is finite exactly when x holds no NaN/Inf (barring float32 overflow)."""
    return _sum(_here(x))


def nonfinite_counts(x: torch.Tensor) -> torch.Tensor:
    """NaN/Inf count per column of a 2-D x, else one total (exact, and slow on CPU: call it rarely)."""
    x = _here(x)
    bad = ~torch.isfinite(x)
    counts = bad.sum(0) if x.dim() == 2 else bad.sum().reshape(1)
    return counts.float()


def nonfinite_rows(x: torch.Tensor, k: int) -> torch.Tensor:
    """[rows holding NaN/Inf, then the indices of the first `k` of them, then their counts] of x's
    dim 0 (x of 2+ dims); with fewer bad rows, the other places are rows of count 0. Exact, device
    ops only (no sync), and slow on CPU like nonfinite_counts."""
    x = _here(x)
    counts = (~torch.isfinite(x)).flatten(1).sum(1, dtype=torch.float32)
    bad = counts > 0
    # The earliest bad rows score highest: topk picks them without a sync (nonzero() would sync).
    score = bad * torch.arange(counts.numel(), 0, -1, device=x.device)
    first = score.topk(min(k, counts.numel())).indices.sort().values
    return torch.cat([bad.sum(dtype=torch.float32).reshape(1), first.float(), counts[first]])


def norms(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of each tensor, in one fused op, as one vector (float32 unless all are float64)."""
    if not tensors:
        return torch.zeros(0)
    # stack promotes mixed dtypes itself: no per-norm .to() (~1.5 us of dispatch each).
    return torch.stack(torch._foreach_norm(local(tensors)))


def update_norms(before: Sequence[torch.Tensor], after: Sequence[torch.Tensor]) -> torch.Tensor:
    """The norm of each parameter's change, after - before, fused."""
    return norms(torch._foreach_sub(list(after), list(before)))


def operand_stats(x: torch.Tensor, op: str) -> torch.Tensor:
    """[min |x|, zeros] of a denominator (op "div"), or [min x, values <= 0] of a log's argument."""
    x = _here(x).detach()
    if op == "div":
        magnitude = x.abs()
        return torch.stack([magnitude.amin().float(), (magnitude == 0).sum().float()])
    return torch.stack([x.amin().float(), (x <= 0).sum().float()])


def local(tensors: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """Each tensor's values on this rank, detached: a DTensor's local shard (to_local(): no
    communication, never a gather), any other tensor itself."""
    if _dtensor_type() is None:  # no DTensor can exist: the usual case, ~0.1 us a tensor
        return [t.detach() if t.requires_grad else t for t in tensors]
    return [t.detach() if t.requires_grad else t for t in map(_here, tensors)]


def _here(t):
    """A DTensor's local shard, any other tensor (or None) itself: every statistic here is of the
    values on this rank (a DTensor op could otherwise redistribute: a collective)."""
    dtensor = _dtensor_type()
    if dtensor is None or not isinstance(t, dtensor):
        return t
    with torch.no_grad():  # to_local() with grad on is an autograd function (~9x slower)
        return t.to_local()


def replicas(tensor: torch.Tensor) -> Optional[int]:
    """How many ranks hold each of a DTensor's local values (the sizes of the mesh dims it is
    replicated over, 1 when sharded over all of them); None for a plain tensor."""
    dtensor = _dtensor_type()
    if dtensor is None or not isinstance(tensor, dtensor):
        return None
    mesh = tensor.device_mesh
    return math.prod(mesh.size(dim) for dim, place in enumerate(tensor.placements) if place.is_replicate())


def _dtensor_type():
    """torch's DTensor class once something has imported it, else None: importing it here would
    cost ~0.9 s, and a DTensor cannot exist before it is imported."""
    module = sys.modules.get("torch.distributed.tensor")
    return getattr(module, "DTensor", None)


def to_host(tensors: Sequence[torch.Tensor]) -> List[List[float]]:
    """The values of `tensors` as Python floats (a DTensor's on this rank): one host transfer (one
    sync) per device."""
    tensors = local(tensors)
    out: List[List[float]] = [[] for _ in tensors]
    by_device: Dict[torch.device, List[int]] = {}
    for i, t in enumerate(tensors):
        by_device.setdefault(t.device, []).append(i)
    for indices in by_device.values():
        # cat promotes to the widest dtype; on CPU .tolist() is the read, with no sync.
        parts = [tensors[i].reshape(-1) for i in indices]
        flat = (parts[0] if len(parts) == 1 else torch.cat(parts)).tolist()
        start = 0
        for i, part in zip(indices, parts):
            out[i] = flat[start:start + part.numel()]
            start += part.numel()
    return out


def all_finite(tensors: Sequence[torch.Tensor]) -> bool:
    """Whether every value of `tensors` (a DTensor's on this rank) is finite; reads one flag per
    device (a sync on an accelerator). Each tensor's extremes (min and max, or its largest |value|)
    are NaN or Inf exactly when it holds one, and cannot overflow as a sum or a sum of squares can."""
    by_device: Dict[torch.device, List[torch.Tensor]] = {}
    for t in local(tensors):
        t = t._values() if t.is_sparse else t  # a sparse tensor is finite when its stored values are
        if t.numel():
            by_device.setdefault(t.device, []).append(torch.view_as_real(t) if t.is_complex() else t)
    flags = []
    for device, group in by_device.items():
        if device.type == "cpu":
            # torch's CPU inf-norm is a scalar loop: 25x slower than aminmax here (MLP 784-512-256-10)
            extremes = [value for t in group for value in torch.aminmax(t)]
        else:  # one fused kernel for all of them
            extremes = list(torch._foreach_norm(group, math.inf))
        flags.append(torch.stack(extremes).isfinite().all())
    return all(bool(flag) for flag in flags)


# -- host side -----------------------------------------------------------------------------


def root_sum_sq(values: Iterable[float]) -> float:
    """sqrt(sum of squares): the norm of parts whose norms are `values`."""
    return math.sqrt(sum(v * v for v in values))


def moments(total: float, total_sq: float, n: int) -> Tuple[float, float]:
    """Mean and (population) standard deviation from a sum and a sum of squares."""
    if n <= 0:
        return math.nan, math.nan
    mean = total / n
    return mean, math.sqrt(max(total_sq / n - mean * mean, 0.0))


@dataclasses.dataclass(frozen=True)
class InputStats:
    """One tensor argument of the watched model's forward, at one step."""

    name: str  # the forward parameter's name ("x"), or "args[2]" / "kwarg 'mask'" / "batch['ids']"
    shape: Tuple[int, ...]
    floating: bool  # False for integer or bool inputs (token ids, masks): never "unnormalized"
    nonfinite: int  # exact count of NaN/Inf values; 0 for integer inputs
    bad_columns: Tuple[Tuple[int, int], ...] = ()  # 2-D inputs: (column, NaN/Inf count), worst first
    mean: Optional[float] = None  # sampled steps only, floating inputs only
    rms: Optional[float] = None  # sqrt(mean of x^2)
    absmax: Optional[float] = None  # max |x|
    # inputs of 2+ dims: rows (dim 0) holding NaN/Inf, and the first of them as (row, NaN/Inf count)
    bad_row_count: int = 0
    bad_rows: Tuple[Tuple[int, int], ...] = ()


@dataclasses.dataclass(frozen=True)
class ActivationStats:
    """The output of one leaf module during the first training forward of a sampled step."""

    name: str  # module path in the model, e.g. "encoder.0.act"
    kind: str  # module class, e.g. "ReLU"
    # values measured; a ReLU-like output with fewer values per unit in one forward than a dead-unit
    # call needs (one example at a time) counts its units over the last sampled steps: numel is
    # then the values those counts cover
    numel: int
    mean: float  # NaN when the output holds NaN
    std: float
    zero_fraction: float  # share of output values that are exactly 0
    finite: bool  # no NaN/Inf in the output
    input_finite: bool  # no NaN/Inf in the first tensor argument
    nan: bool = False  # the output holds NaN (its sum is NaN; +inf and -inf together read alike)
    input_nan: bool = False  # the first tensor argument holds NaN (an -inf mask alone is not NaN)
    # ReLU/sigmoid/tanh-like modules: the size of the unit dim (features of [N, F] or an unbatched
    # [F], channels of [N, C, ...] after a convolution, the last dim after a Linear or an RNN), else 0
    units: int = 0
    dead_units: int = 0  # ReLU-like: units 0 for every sample measured
    saturated_fraction: float = 0.0  # sigmoid/tanh-like: share of output values in the flat region
    is_output: bool = False  # the last module run in the forward: the model's output layer


@dataclasses.dataclass(frozen=True)
class ShardNorms:
    """This rank's part of global norms, in a model of sharded (DTensor) parameters: each value is
    sqrt(sum of its parameters' squares / their replicas), so that over every rank of the job,
    sqrt(sum of the values' squares) is the global norm (reader.combine does that)."""

    grad: float  # the gradients the optimizer applies (those of StepStats.grad_norms)
    weight: float  # the parameters
    update: float  # the optimizer step's change of the parameters it updated (0 when none was measured)
    updated_weight: float  # those parameters before the step: the global update ratio's denominator
    ranks: int  # the ranks of the job (torch.distributed's world size)


@dataclasses.dataclass(frozen=True)
class LayerStats:
    """The parameters of one module, at a sampled step (under FSDP, this rank's shard of them)."""

    name: str  # module path ("" for parameters of the root module)
    numel: int  # values on this rank (a sharded parameter's local shard)
    grad_norm: float  # L2 norm of all its gradients; NaN if none is finite, 0 with no gradient
    weight_norm: float = 0.0  # L2 norm of its parameters when the gradient was taken
    update_ratio: Optional[float] = None  # ||w_after - w_before|| / ||w_before|| over the optimizer step
    shard: Optional[ShardNorms] = None  # in a sharded model: its part of the job's global norms


@dataclasses.dataclass(frozen=True)
class OperandStats:
    """A division's denominator or a log's argument, read from the autograd graph."""

    op: str  # "div" or "log"
    node: str  # autograd node, e.g. "DivBackward0"
    where: str  # "loss" (between the loss and the model output) or "model"
    numel: int
    minimum: float  # "div": min |denominator|; "log": min argument
    bad: int  # "div": zero denominators; "log": arguments <= 0


@dataclasses.dataclass(frozen=True)
class NonfiniteOrigin:
    """Where a step's first NaN/Inf appeared, in execution order."""

    place: str  # "input", "module", "loss" or "backward"
    name: str  # the argument, the module's path, the loss op, or the module/parameter in backward
    detail: str  # e.g. "rows 3, 7 of 32; columns 2" or "Linear; its input was finite"


@dataclasses.dataclass(frozen=True)
class StepStats:
    """The model statistics of one training step, handed to `Detector.on_step`.

    Every step carries the cheap checks (inputs' NaN/Inf, gradient norms, learning rates,
    gradients left over from the last optimizer step); sampled steps add activations, per-layer
    gradients and updates, parameter facts and the graph's divisions and logs.
    """

    step: int  # optimizer steps taken since watch() (plus its first_step), see tb_lossdiag.watch
    sampled: bool
    inputs: Tuple[InputStats, ...] = ()  # every training forward of the step
    # parameter name -> norm; with an optimizer, of the parameters it holds (the gradients it applies)
    grad_norms: Mapping[str, float] = dataclasses.field(default_factory=dict)
    lrs: Tuple[float, ...] = ()  # per optimizer param group; () without an optimizer
    grads_not_cleared: Tuple[str, ...] = ()  # params whose .grad was still the last step's at backward
    activations: Tuple[ActivationStats, ...] = ()  # sampled: leaf modules in forward order
    layers: Tuple[LayerStats, ...] = ()  # sampled: modules owning parameters, in registration order
    operands: Tuple[OperandStats, ...] = ()  # divisions and logs whose saved operands could be read
    not_in_optimizer: Tuple[str, ...] = ()  # sampled: trainable params no param group holds
    frozen_in_optimizer: Tuple[str, ...] = ()  # sampled: requires_grad=False params given to the optimizer
    frozen: Tuple[str, ...] = ()  # sampled: requires_grad=False params the optimizer does not hold
    no_gradient: Tuple[str, ...] = ()  # sampled: optimized params with no .grad at optimizer.step()
    # sampled, swap-only: params with a non-zero gradient whose values did not change since the last
    # sampled step while others did (no update moves them: not in the optimizer, or an lr of 0)
    unchanged: Tuple[str, ...] = ()
    grad_scale: Optional[float] = None  # sampled, watch(scaler=...): the GradScaler's scale this step
    skipped_steps: int = 0  # sampled, watch(scaler=...): iterations skipped since the last sampled step
    origin: Optional[NonfiniteOrigin] = None  # the first non-finite step: where its first NaN/Inf appeared

    @functools.cached_property  # read by several detectors every step: computed once
    def grad_norm(self) -> Optional[float]:
        """The L2 norm of all gradients on this rank: the global one, or under FSDP its shard's
        (None when no gradient was measured)."""
        if not self.grad_norms:
            return None
        return root_sum_sq(self.grad_norms.values())

    @property
    def shard(self) -> Optional[ShardNorms]:
        """A sampled step of a sharded model: this rank's part of the job's global norms; else None."""
        parts = [layer.shard for layer in self.layers if layer.shard is not None]
        if not parts:
            return None
        return ShardNorms(grad=root_sum_sq(p.grad for p in parts), weight=root_sum_sq(p.weight for p in parts),
                          update=root_sum_sq(p.update for p in parts),
                          updated_weight=root_sum_sq(p.updated_weight for p in parts), ranks=parts[0].ranks)
