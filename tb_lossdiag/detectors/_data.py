"""What the data detectors receive from a data check (tb_lossdiag.data), and what they share."""

import dataclasses
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from tb_lossdiag.detectors.base import Detector
from tb_lossdiag.events import Event

EXAMPLES = 3  # values or items quoted in a message


@dataclasses.dataclass(frozen=True)
class Place:
    """One column or field: its tag, its name in messages and in code fixes, and where it lives."""

    column: str
    text: str
    expr: str
    source: str  # "df" (a DataFrame column), "tensor" (a batch or tensor) or "item" (Dataset items)

    def part(self, j: int) -> "Place":
        """Column j of a 2-D field."""
        return Place(f"{self.column}[:, {j}]", f"column {j} of {self.text}", f"{self.expr}[:, {j}]", self.source)


@dataclasses.dataclass(frozen=True, eq=False)
class DataObservation:
    """What every observation of one data check carries: its step, the data's name, the place."""

    step: int
    name: Optional[str]
    place: Place


@dataclasses.dataclass(frozen=True, eq=False)
class UnnamedColumn(DataObservation):
    """A DataFrame column pandas named 'Unnamed: N' (it had no header); its values are not read."""

    rows: int
    row_numbers: bool  # unique increasing integers: an index written by to_csv()


@dataclasses.dataclass(frozen=True, eq=False)
class MissingCells(DataObservation):
    """The missing cells (NaN, None, NaT) of a DataFrame column."""

    missing: int
    rows: int
    holds: str  # "numbers", "dates" or "other" (text, categories, booleans)


@dataclasses.dataclass(frozen=True, eq=False)
class TextColumn(DataObservation):
    """The present values of a text column: blank ones, and how many of the others parse as numbers."""

    rows: int
    blanks: int
    texts: int  # present values that are not blank
    numbers: int  # of those, the ones pd.to_numeric parses
    strays: int  # texts - numbers
    stray_examples: Tuple[object, ...]  # the first distinct ones, at most EXAMPLES


@dataclasses.dataclass(frozen=True, eq=False)
class Values(DataObservation):
    """The numbers of one column, field or tensor: exact non-finite counts, a bounded sample of the rest."""

    dtype: str  # e.g. "float32", "int64"
    values: np.ndarray  # float64: the kept finite values
    total: int
    nonfinite: int
    bad_items: Tuple[int, ...]  # Dataset indices of the items holding non-finite values
    is_label: bool
    num_classes: Optional[int]
    scalar: bool  # one value per sample (a label column can be class indices)
    column: bool  # a 1-D column of values (outliers are judged among them)


@dataclasses.dataclass(frozen=True, eq=False)
class Magnitudes(DataObservation):
    """The finite values of an input (not a label), less those reported as outliers."""

    values: np.ndarray
    image_like: bool  # images or uint8 data, where 0-255 means raw pixels


@dataclasses.dataclass(frozen=True, eq=False)
class MissingItems(DataObservation):
    """The sampled Dataset items whose field is None."""

    items: Tuple[int, ...]
    total: int  # sampled items
    sampled: str  # the sample in words, e.g. "the 40 items"


@dataclasses.dataclass(frozen=True, eq=False)
class TypeChanges(DataObservation):
    """The Python/tensor types a field takes across sampled items, each with its item indices."""

    types: Mapping[str, Sequence[int]]
    sampled: str
    is_label: bool


@dataclasses.dataclass(frozen=True, eq=False)
class ShapeChanges(DataObservation):
    """The shapes a tensor field takes across sampled items, each with its item indices."""

    shapes: Mapping[str, Sequence[int]]
    sampled: str


@dataclasses.dataclass(frozen=True, eq=False)
class FloatField(DataObservation):
    """A floating field of a batch or of Dataset items, beside the float dtypes of all fields."""

    dtype: str
    is_label: bool
    float_dtypes: Tuple[str, ...]  # sorted, of every floating field, this one included


class DataDetector(Detector):
    """A data detector: `on_data` gets each observation of a check, every check is reported."""

    category = "data"


def data_event(detector: Detector, obs: DataObservation, severity, message, hint, **evidence) -> Event:
    """An event of `detector` about `obs`'s place: tag data/<column>, the data's name first."""
    event = detector.event(
        obs.step, severity, f"data/{obs.place.column}",
        f"{obs.name}: {message}" if obs.name else message, hint, **evidence,
    )
    # Category "data" also for a detector that watches the model too (unnormalized_input).
    return dataclasses.replace(event, category="data")


def first(items: Sequence[int]) -> str:
    """'items 0, 3, 6, ...': the first few item indices."""
    shown = ", ".join(str(i) for i in items[:EXAMPLES])
    more = ", ..." if len(items) > EXAMPLES else ""
    return ("item " if len(items) == 1 else "items ") + shown + more


def groups(grouped: Mapping[str, Sequence[int]]) -> str:
    """'A in 250 items, B in 6 (item 17, ...)', largest group first."""
    ordered = sorted(grouped.items(), key=lambda kv: -len(kv[1]))
    (top, top_items), rest = ordered[0], ordered[1:]
    others = ", ".join(f"{k} in {len(v)} ({first(v)})" for k, v in rest)
    return f"{top} in {len(top_items)} items, {others}"
