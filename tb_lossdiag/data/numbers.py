"""What a data check reads of numbers, shared by DataFrame columns, tensors and Dataset fields."""

import dataclasses
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

from tb_lossdiag.detectors._data import DataObservation, Magnitudes, Place, Values
from tb_lossdiag.detectors.outlier_values import OutlierValues
from tb_lossdiag.events import Event


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How much of the data a check reads (the thresholds of its decisions are the detectors');
    each is also a keyword of check_data()."""

    sample_size: int = 256  # Dataset items read, at most: a seeded sample, so reruns agree
    seed: int = 0
    max_values: int = 1_000_000  # values of one column or field kept for its statistics
    max_columns: int = 64  # 2-D data up to this wide is checked column by column


@dataclasses.dataclass(frozen=True)
class Check:
    """One run of a data check: its step, the data's name, how much it reads, and `diagnose`,
    which turns each observation into the detectors' events."""

    step: int
    name: Optional[str]
    sampling: Sampling
    diagnose: Callable[[DataObservation], List[Event]]

    def observe(self, kind, place: Place, **fields) -> List[Event]:
        """The events of one observation of `kind` (a DataObservation class) about `place`."""
        return self.diagnose(kind(step=self.step, name=self.name, place=place, **fields))


class Numbers:
    """Exact non-finite counts and a bounded, seeded sample of the finite values of a column or field."""

    def __init__(self, sampling: Sampling, parts: int = 1):
        self.keep = max(1, sampling.max_values // parts)
        self.generator = torch.Generator().manual_seed(sampling.seed)
        self.total = 0
        self.nonfinite = 0
        self.bad_items: List[int] = []
        self._kept: List[torch.Tensor] = []

    def add(self, rows: torch.Tensor, items: Optional[Sequence[int]] = None) -> None:
        """Count `rows` (first dimension: samples; `items` their Dataset indices, if any)."""
        flat = rows.reshape(-1)
        self.total += flat.numel()
        if flat.is_floating_point():
            finite = torch.isfinite(flat)
            bad = flat.numel() - int(finite.sum())
            if bad:
                self.nonfinite += bad
                if items is not None:
                    bad_rows = ~finite.reshape(len(items), -1).all(dim=1)
                    self.bad_items.extend(i for i, b in zip(items, bad_rows.tolist()) if b)
                flat = flat[finite]
        if flat.numel() > self.keep:
            flat = flat[torch.randint(flat.numel(), (self.keep,), generator=self.generator)]
        self._kept.append(flat.double())

    def values(self) -> np.ndarray:
        """The kept finite values."""
        return torch.cat(self._kept).numpy() if self._kept else np.empty(0)


def dtype_name(dtype: torch.dtype) -> str:
    """'float32' for torch.float32."""
    return str(dtype).replace("torch.", "")


def observe_field(check: Check, place: Place, data: torch.Tensor, items, is_label, num_classes) -> List[Event]:
    """Events of one column, field or tensor whose first dimension runs over samples."""
    if not is_label and data.ndim == 2 and 1 < data.shape[1] <= check.sampling.max_columns:
        parts = [(place.part(j), data[:, j]) for j in range(data.shape[1])]
    else:
        parts = [(place, data)]
    events = []
    for where, part in parts:
        numbers = Numbers(check.sampling)
        numbers.add(part, items)
        events.extend(observe_numbers(
            check, where, numbers, data.dtype, is_label, num_classes,
            scalar=part.ndim <= 1, image_like=part.ndim >= 3, column=part.ndim == 1,
        ))
    return events


def observe_numbers(check: Check, place: Place, numbers: Numbers, dtype: torch.dtype, is_label, num_classes,
                    *, scalar: bool, image_like: bool, column: bool) -> List[Event]:
    """Events of the numbers of one place: their values, then (an input's) their magnitudes."""
    values = numbers.values()
    events = check.observe(
        Values, place, dtype=dtype_name(dtype), values=values, total=numbers.total,
        nonfinite=numbers.nonfinite, bad_items=tuple(numbers.bad_items), is_label=is_label,
        num_classes=num_classes, scalar=scalar, column=column,
    )
    if is_label or not values.size:
        return events
    # The scale is judged without the values reported as outliers: they are reported once, as
    # outliers (with outlier_values disabled, the scale sees them all).
    for event in events:
        if event.kind == OutlierValues.id:
            values = values[(values >= event.evidence["low"]) & (values <= event.evidence["high"])]
    image_like = image_like or dtype == torch.uint8
    return events + check.observe(Magnitudes, place, values=values, image_like=image_like)
