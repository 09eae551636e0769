"""The inputs probe: NaN/Inf counts of every tensor the model is called with, and the batch's scale
on sampled steps."""

import inspect
import math
import weakref
from typing import Iterator, List, NamedTuple, Optional, Tuple

import torch

from tb_lossdiag import stats as S

_MAX_BAD_COLUMNS = 5  # columns of a 2-D input named, worst first
_MAX_BAD_ROWS = 5  # rows of an input named, first first


class InputEntry(NamedTuple):
    """One tensor argument of one training forward, and the slots of its statistics."""

    name: str
    shape: Tuple[int, ...]
    floating: bool
    count_slot: Optional[int]  # NaN/Inf counts (per column of a 2-D input), when counted
    stats_slot: Optional[int]  # [sum, sum of squares, max |x|] on sampled steps
    rows_slot: Optional[int] = None  # S.nonfinite_rows of an input of 2+ dims, when counted

    def nonfinite(self, values) -> bool:
        return self.count_slot is not None and any(values[self.count_slot])

    def stats(self, values) -> S.InputStats:
        nonfinite, bad_columns = 0, ()  # type: Tuple[int, Tuple[Tuple[int, int], ...]]
        if self.count_slot is not None:
            counts = values[self.count_slot]
            nonfinite = int(sum(counts))
            if len(self.shape) == 2:
                worst = sorted((c for c in enumerate(counts) if c[1] > 0), key=lambda c: -c[1])
                bad_columns = tuple((col, int(n)) for col, n in worst[:_MAX_BAD_COLUMNS])
        bad_row_count, bad_rows = 0, ()  # type: Tuple[int, Tuple[Tuple[int, int], ...]]
        if self.rows_slot is not None:
            rows = values[self.rows_slot]
            k = (len(rows) - 1) // 2
            bad_row_count = int(rows[0])
            bad_rows = tuple((int(r), int(n)) for r, n in zip(rows[1:1 + k], rows[1 + k:]) if n > 0)
        mean = rms = absmax = None
        if self.stats_slot is not None:
            total, total_sq, absmax = values[self.stats_slot]
            n = math.prod(self.shape)
            mean, rms = total / n, math.sqrt(total_sq / n) if total_sq >= 0 else math.nan
        return S.InputStats(self.name, self.shape, self.floating, nonfinite, bad_columns, mean, rms, absmax,
                            bad_row_count, bad_rows)


class InputProbe:
    """Counts the NaN/Inf of a forward's tensor arguments, exactly where one may be."""

    def __init__(self, model: torch.nn.Module):
        self._arg_names = _positional_names(model)
        # The storages of the last forward's outputs, weakly: an argument that shares one is the
        # model's own state fed back (a hidden state, detached or not), alive as long as the user holds it.
        self._returned: List[weakref.ref] = []

    def check(self, record, args, kwargs, output=None) -> None:
        """Queue the counts (and on sampled steps the statistics) of one training forward's inputs;
        `output`, the forward's, tells the next forward which arguments are state fed back."""
        returned = {id(storage) for storage in (ref() for ref in self._returned) if storage is not None}
        named = [(name, x) for name, x in self._tensor_args(args, kwargs)
                 if not returned or id(_storage(x)) not in returned]
        self._returned = [weakref.ref(storage) for storage in map(_storage, _outputs(output)) if storage is not None]
        if not record.sampled and all(x.is_cpu for _, x in named):
            # Unsampled CPU step: counting every batch costs ~0.1 ms (isfinite() is slow on CPU),
            # so the inputs are held until the step ends and counted only if the gradient probe
            # flags the step (a NaN input makes the gradients NaN). Held, not weakly referenced:
            # a batch sliced or moved inside model(...) is freed before the step's end otherwise.
            record.held_inputs.extend(named)
            return
        floating = [x.is_floating_point() and x.numel() > 0 for _, x in named]
        counted = [f and not x.is_cpu for f, (_, x) in zip(floating, named)]
        on_host = [i for i, (f, (_, x)) in enumerate(zip(floating, named)) if f and x.is_cpu]
        if on_host:
            # Counting is cheap on an accelerator and reading it there would sync; on CPU reading
            # a scalar costs no sync and isfinite() is ~40x slower than sum(): count exactly only
            # the inputs whose sum is not finite. One input: its sum, read; more: one stack, read.
            probes = [S.finiteness_probe(named[i][1]) for i in on_host]
            sums = [probes[0].item()] if len(probes) == 1 else torch.stack(probes).tolist()
            for i, total in zip(on_host, sums):
                counted[i] = not math.isfinite(total)
        for (name, x), is_float, count in zip(named, floating, counted):
            stats_slot = record.add(S.input_stats(x)) if record.sampled and is_float else None
            record.inputs.append(_counted(record, name, x, count, stats_slot))

    def read_held(self, record) -> None:
        """Exact NaN/Inf counts of a flagged unsampled step's inputs, then they are let go."""
        for name, x in record.held_inputs:
            record.inputs.append(_counted(record, name, x, x.is_floating_point() and x.numel() > 0, None))
        record.held_inputs = []

    def _tensor_args(self, args, kwargs) -> Iterator[Tuple[str, torch.Tensor]]:
        """(name, tensor) for each data argument, one level into tuples, lists and dicts. An argument
        carrying a grad_fn is not data: it was computed by trained weights (an RNN's hidden state fed
        back, an encoder's output), and its scale or NaN is the model's, found by the other probes;
        nor is one the model returned last time (`check` drops those: a hidden state detached)."""
        named = [(self._arg_names[i] if i < len(self._arg_names) else f"args[{i}]", a)
                 for i, a in enumerate(args)]
        named += [(f"kwarg {k!r}", v) for k, v in kwargs.items()]
        for name, value in named:
            if _data(value):
                yield name, value
            elif isinstance(value, (tuple, list)):
                yield from ((f"{name}[{i}]", v) for i, v in enumerate(value) if _data(v))
            elif isinstance(value, dict):
                yield from ((f"{name}[{k!r}]", v) for k, v in value.items() if _data(v))


def _outputs(output) -> Iterator[torch.Tensor]:
    """The tensors of a forward's output, two levels into tuples, lists and dicts: (out, (h, c))."""
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, (tuple, list, dict)):
        for item in output.values() if isinstance(output, dict) else output:
            if isinstance(item, torch.Tensor):
                yield item
            elif isinstance(item, (tuple, list)):
                yield from (t for t in item if isinstance(t, torch.Tensor))


def _storage(x: torch.Tensor):
    """The tensor's storage object (one Python object per storage, alive while a tensor uses it), or
    None for a tensor without one (sparse)."""
    try:
        return x.untyped_storage()
    except (RuntimeError, NotImplementedError):
        return None


def _data(value) -> bool:
    """Whether `value` is a tensor of data: not the output of a graph that trains."""
    return isinstance(value, torch.Tensor) and value.grad_fn is None


def _counted(record, name: str, x: torch.Tensor, count: bool, stats_slot: Optional[int]) -> InputEntry:
    """The entry of input `x`, with its NaN/Inf counted by column and by row when `count`."""
    rows = count and x.dim() >= 2
    return InputEntry(
        name, tuple(x.shape), x.is_floating_point(),
        count_slot=record.add(S.nonfinite_counts(x)) if count else None,
        stats_slot=stats_slot,
        rows_slot=record.add(S.nonfinite_rows(x, _MAX_BAD_ROWS)) if rows else None,
    )


def _positional_names(model) -> List[str]:
    try:
        parameters = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds]
