"""Data checks: what in a DataFrame, Dataset, batch or tensor will poison the loss (pure: no writes)."""

import collections
import dataclasses
import functools
import itertools
import random
import re
import sys
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from tb_lossdiag.events import Event


@dataclasses.dataclass(frozen=True)
class DataThresholds:
    """Every tunable number of the data checks; each is also a keyword of check_data()."""

    sample_size: int = 256  # Dataset items read, at most: a seeded sample, so reruns agree
    seed: int = 0
    max_values: int = 1_000_000  # values of one column or field kept for its statistics
    outlier_z: float = 10.0  # robust standard deviations from the median that make an outlier
    max_scale: float = 10.0  # a typical |value| above this is an unnormalized input...
    scale_quantile: float = 0.99  # ..."typical" being this quantile, so a few outliers do not count
    max_columns: int = 64  # 2-D data up to this wide is checked column by column
    examples: int = 3  # values or items quoted in a message


OPTIONS = ("label", "num_classes", "model")
IGNORE_INDEX = -100  # CrossEntropyLoss's default ignore_index is a legal label
_LABEL_KEYS = ("label", "labels", "target", "targets", "y")
# pandas' name for a column without a header, typically the index that to_csv() wrote.
_UNNAMED = re.compile(r"Unnamed: \d+(_level_\d+)?")
_LONG_LABELS = (torch.int64, torch.uint8)  # the target dtypes cross_entropy and nll_loss accept
_ACCEPTED = (
    "a pandas DataFrame or Series, a torch Dataset or DataLoader (or any sequence of samples), "
    "a batch (tuple, list or dict of tensors), or a numeric tensor or numpy array"
)
# The one-line fix of each problem, by where the data lives: a DataFrame, a tensor, a Dataset item.
_FIXES = {
    ("nonfinite_values", "df"): "{e} = {e}.replace([np.inf, -np.inf], np.nan), then dropna() or "
    "fillna()",
    ("nonfinite_values", "tensor"): "drop those rows or fix the log/division that made them; "
    "{e} = torch.nan_to_num({e}) only hides them",
    ("nonfinite_values", "item"): "fix the log/division in __getitem__ that made them, or leave those "
    "items out of the dataset",
    ("label_dtype", "df"): "{e} = {e}.astype('int64')",
    ("label_dtype", "tensor"): "{e} = {e}.long()",
    ("label_dtype", "item"): "return torch.as_tensor({e}, dtype=torch.long) from __getitem__",
    ("float64", "tensor"): "{e} = {e}.float()",
    ("float64", "item"): "return torch.as_tensor({e}, dtype=torch.float32) from __getitem__ (float64 "
    "comes from numpy and pandas: df.astype('float32') beforehand works too)",
}


def check_dataframe(df, *, step: int = -1, name: Optional[str] = None, **options) -> List[Event]:
    """The problems of a pandas DataFrame (or Series): one event per problem and column."""
    if _kind_of(df) != "dataframe":
        raise TypeError(f"check_dataframe needs a pandas DataFrame or Series, got {type(df).__name__}")
    return prepare_check(df, step=step, name=name, **options)()


def prepare_check(
    data,
    *,
    step: int = -1,
    name: Optional[str] = None,
    label=None,
    num_classes: Optional[int] = None,
    model: Optional[torch.nn.Module] = None,
    **thresholds,
) -> Callable[[], List[Event]]:
    """The check for `data`, ready to run; wrong arguments raise here, before any data is read."""
    # `label` names the label column, key or tuple position (default: a "label"/"target"/"y" key,
    # the second of (input, label) pairs). `num_classes`, or the output size of `model`'s last
    # layer, makes labels class indices; a 1-D tensor checked with them is a tensor of labels.
    unknown = sorted(set(thresholds) - {f.name for f in dataclasses.fields(DataThresholds)})
    if unknown:
        raise TypeError(
            f"unknown option(s) {unknown}; accepted: {', '.join(OPTIONS)} and the thresholds "
            f"{[f.name for f in dataclasses.fields(DataThresholds)]}"
        )
    kind = _kind_of(data)
    if num_classes is None and model is not None:
        num_classes = _output_size(model)
    valid = isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes > 0
    if num_classes is not None and not valid:
        raise TypeError(f"num_classes must be a positive int, got {num_classes!r}")
    if kind == "dataframe" and label is not None:
        columns = data.to_frame().columns if data.ndim == 1 else data.columns
        if label not in columns:
            raise ValueError(f"label column {label!r} is not in the DataFrame; its columns: {list(columns)}")
    context = _Context(int(step), name, DataThresholds(**thresholds))
    check = _CHECKS[kind]
    return lambda: check(data, context, label, num_classes)


# -- what is being checked --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Where:
    """One column or field: its tag, its name in messages and in code fixes, and where it lives."""

    column: str
    text: str
    expr: str
    source: str  # "df", "tensor" or "item"

    def part(self, j: int) -> "_Where":
        """Column j of a 2-D field."""
        return _Where(
            f"{self.column}[:, {j}]", f"column {j} of {self.text}", f"{self.expr}[:, {j}]", self.source
        )


@dataclasses.dataclass(frozen=True)
class _Context:
    """What every event of one check shares: its step, the data's name, the thresholds."""

    step: int
    name: Optional[str]
    limits: DataThresholds

    def event(self, kind: str, severity: str, where: _Where, message: str, hint: str, **evidence):
        """A data event about `where`."""
        return Event(
            step=self.step,
            kind=kind,
            severity=severity,
            tag=f"data/{where.column}",
            message=f"{self.name}: {message}" if self.name else message,
            hint=hint,
            evidence={k: float(v) for k, v in evidence.items()},
            category="data",
        )


def _kind_of(data) -> str:
    pandas = sys.modules.get("pandas")  # a DataFrame can only exist once its user imported pandas
    if pandas is not None and isinstance(data, (pandas.DataFrame, pandas.Series)):
        return "dataframe"
    if isinstance(data, torch.Tensor) or (isinstance(data, np.ndarray) and data.dtype.kind in "biuf"):
        return "array"
    if isinstance(data, torch.utils.data.DataLoader):
        return "dataloader"
    values = list(data.values()) if isinstance(data, Mapping) else data
    if isinstance(values, (tuple, list)) and values and all(_is_array(v) for v in values):
        return "batch"
    if isinstance(data, (torch.utils.data.Dataset, Sequence)) and not isinstance(data, (str, bytes)):
        return "dataset"
    raise TypeError(f"check_data accepts {_ACCEPTED}; got {type(data).__name__}")


def _is_array(value) -> bool:
    return isinstance(value, (torch.Tensor, np.ndarray))


def _output_size(model: torch.nn.Module) -> Optional[int]:
    """The class count of a classifier's last layer; None for one output (regression, binary)."""
    sizes = [m.out_features for m in model.modules() if isinstance(getattr(m, "out_features", None), int)]
    return sizes[-1] if sizes and sizes[-1] > 1 else None


# -- DataFrames -------------------------------------------------------------------------------


def _check_dataframe(df, context: _Context, label, num_classes) -> List[Event]:
    import pandas as pd  # only here: pandas stays optional

    if isinstance(df, pd.Series):
        df = df.to_frame()
    events: List[Event] = []
    for position, column in enumerate(df.columns):
        series = df.iloc[:, position]
        events.extend(_column_events(series, str(column), context, column == label, num_classes))
    return events


def _column_events(series, column: str, context: _Context, is_label: bool, num_classes) -> List[Event]:
    from pandas.api import types

    where = _Where(column, f"column {column!r}", f"df[{column!r}]", "df")
    rows = len(series)
    if _UNNAMED.fullmatch(column):
        # Its values are row numbers, not data: no other check applies to it.
        return [_stray_index(context, where, series)]
    events = []
    numeric = types.is_numeric_dtype(series) and not types.is_bool_dtype(series)
    dated = types.is_datetime64_any_dtype(series)
    missing = int(series.isna().sum())
    if missing:
        events.append(_missing(context, where, missing, rows, numeric, dated))
    present = series.dropna()
    if numeric:
        array = present.to_numpy()
        values = torch.tensor(array.astype(np.float64) if array.dtype == object else array)
        events.extend(_field_events(context, where, values, None, is_label, num_classes))
    elif not dated and (types.is_object_dtype(series) or types.is_string_dtype(series)):
        events.extend(_text_events(context, where, present, rows))
    return events


def _stray_index(context: _Context, where: _Where, series) -> Event:
    row_numbers = bool(
        series.dtype.kind in "iu" and series.is_monotonic_increasing and series.is_unique
    )
    what = "holds the row numbers of an index" if row_numbers else "has no header"
    message = (
        f"{where.text} {what}: a DataFrame written with to_csv() keeps its index as a column, and "
        f"reading the file back names it {where.column!r}"
    )
    hint = (
        "write with df.to_csv(path, index=False), or read with pd.read_csv(path, index_col=0); "
        f"or drop it: df = df.drop(columns=[{where.column!r}])"
    )
    return context.event(
        "stray_index_column", "warning", where, message, hint, rows=len(series), row_numbers=row_numbers
    )


def _missing(context: _Context, where: _Where, missing: int, rows: int, numeric: bool, dated: bool):
    label = "NaT" if dated else "NaN" if numeric else "None/NaN"
    message = f"{where.text} has {missing} missing values ({label}; {missing / rows:.1%}) in {rows} rows"
    drop = f"df = df.dropna(subset=[{where.column!r}])"
    if numeric:
        hint = f"{drop}, or fill them: {where.expr} = {where.expr}.fillna({where.expr}.median())"
    elif dated:
        hint = f"{drop} (NaT becomes a huge negative number once converted to a number)"
    else:
        hint = f"{where.expr} = {where.expr}.fillna('unknown'), or {drop}"
    # Missing numbers and dates become NaN in the input tensor, and NaN in the loss.
    severity = "error" if numeric or dated else "warning"
    return context.event(
        "missing_values", severity, where, message, hint, count=missing, rows=rows, fraction=missing / rows
    )


def _text_events(context: _Context, where: _Where, present, rows: int) -> List[Event]:
    import pandas as pd

    events = []
    blank = present.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
    blanks = int(blank.sum())
    if blanks:
        message = f"{where.text} has {blanks} empty strings ({blanks / rows:.1%}) in {rows} rows"
        hint = (
            f"they are missing values in disguise: {where.expr} = {where.expr}.replace(r'^\\s*$', None, "
            "regex=True), then dropna() or fillna()"
        )
        events.append(context.event(
            "empty_strings", "warning", where, message, hint, count=blanks, rows=rows, fraction=blanks / rows
        ))
    text = present[~blank]
    parsed = pd.to_numeric(text, errors="coerce")
    numbers = int(parsed.notna().sum())
    # Mostly numbers: a numeric column that a few stray tokens ("?", "n/a") turned into text.
    if len(text) and numbers * 2 >= len(text):
        strays = text[parsed.isna()]
        quoted = ", ".join(repr(v) for v in list(dict.fromkeys(strays))[: context.limits.examples])
        why = "its numbers are stored as text"
        if len(strays):
            why = f"{len(strays)} of {len(text)} values are not numbers ({quoted})"
        message = f"{where.text} is text, not numbers: {why}"
        hint = (
            f"{where.expr} = pd.to_numeric({where.expr}, errors='coerce') (non-numbers become NaN: then "
            "dropna() or fillna())"
        )
        if len(strays):
            hint += f", or pd.read_csv(path, na_values=[{quoted}])"
        events.append(context.event(
            "dtype_inconsistency", "warning", where, message, hint, not_numbers=len(strays), values=len(text)
        ))
    return events


# -- numbers: shared by DataFrame columns, tensors and Dataset fields ----------------------------


class _Numbers:
    """Exact non-finite counts and a bounded, seeded sample of the finite values of a column or field."""

    def __init__(self, limits: DataThresholds, parts: int = 1):
        self.keep = max(1, limits.max_values // parts)
        self.generator = torch.Generator().manual_seed(limits.seed)
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


def _field_events(context, where: _Where, data: torch.Tensor, items, is_label, num_classes):
    """Events of one column, field or tensor whose first dimension runs over samples."""
    if not is_label and data.ndim == 2 and 1 < data.shape[1] <= context.limits.max_columns:
        parts = [(where.part(j), data[:, j]) for j in range(data.shape[1])]
    else:
        parts = [(where, data)]
    events = []
    for place, part in parts:
        numbers = _Numbers(context.limits)
        numbers.add(part, items)
        events.extend(_number_events(
            context, place, numbers, data.dtype, is_label, num_classes,
            scalar=part.ndim <= 1, image_like=part.ndim >= 3, outliers=part.ndim == 1,
        ))
    return events


def _number_events(context, where, numbers, dtype, is_label, num_classes, *, scalar, image_like, outliers):
    found = [_nonfinite(context, where, numbers)]
    values = numbers.values()
    if values.size and is_label:
        if num_classes is not None and scalar:
            found += _labels(context, where, values, dtype, num_classes)
    elif values.size:
        if outliers:
            # The scale is judged without the outliers: they are reported once, as outliers.
            outlier, values = _outliers(context, where, values)
            found.append(outlier)
        found.append(_scale(context, where, values, image_like or dtype == torch.uint8))
    return [e for e in found if e is not None]


def _nonfinite(context: _Context, where: _Where, numbers: _Numbers) -> Optional[Event]:
    if not numbers.nonfinite:
        return None
    items = ""
    if numbers.bad_items:
        items = f", in {len(numbers.bad_items)} items ({_first(numbers.bad_items, context)})"
    message = (
        f"{where.text} has {numbers.nonfinite} non-finite values (NaN or inf; "
        f"{numbers.nonfinite / numbers.total:.1%}) among {numbers.total} values{items}"
    )
    hint = _FIXES[("nonfinite_values", where.source)].format(e=where.expr)
    return context.event(
        "nonfinite_values", "error", where, message, hint,
        count=numbers.nonfinite, values=numbers.total, items=len(numbers.bad_items),
    )


def _outliers(context: _Context, where: _Where, values: np.ndarray) -> Tuple[Optional[Event], np.ndarray]:
    """The outlier event (or None), and the values without the outliers."""
    limits = context.limits
    median = float(np.median(values))
    distance = np.abs(values - median)
    spread = 1.4826 * float(np.median(distance))  # the std of normal data, unmoved by outliers
    if spread == 0:
        return None, values  # mostly one value (a flag, sparse counts): the rare others are the signal
    far = distance > limits.outlier_z * spread
    count = int(far.sum())
    if not count:
        return None, values
    worst = values[far][np.argsort(-distance[far])][: limits.examples]
    low, high = median - limits.outlier_z * spread, median + limits.outlier_z * spread
    message = (
        f"{where.text} has {count} outlier values ({count / values.size:.1%}) among {values.size}, more "
        f"than {limits.outlier_z:g} robust standard deviations from its median {median:.4g}: "
        + ", ".join(f"{v:.4g}" for v in worst)
    )
    hint = (
        f"drop or clip them: {where.expr} = {where.expr}.clip({low:.4g}, {high:.4g}), or log-transform "
        "a heavy-tailed column"
    )
    return context.event(
        "outlier_values", "warning", where, message, hint,
        count=count, values=values.size, median=median, low=low, high=high, worst=worst[0],
    ), values[~far]


def _scale(context: _Context, where: _Where, values: np.ndarray, image_like: bool) -> Optional[Event]:
    typical = float(np.quantile(np.abs(values), context.limits.scale_quantile))
    if typical <= context.limits.max_scale:
        return None
    low, high = float(values.min()), float(values.max())
    mean, std = float(values.mean()), float(values.std())
    integral = bool(np.all(values == np.round(values)))
    evidence = dict(min=low, max=high, mean=mean, std=std, typical=typical)
    e = where.expr
    if image_like and integral and low >= 0 and high <= 255:
        message = f"{where.text} holds raw 0-255 pixel values (range [{low:g}, {high:g}], mean {mean:.4g})"
        hint = (
            f"scale them to [0, 1]: {e} = {e}.float() / 255 (torchvision's ToTensor() does this), then "
            "transforms.Normalize(mean, std)"
        )
        return context.event("unnormalized_input", "warning", where, message, hint, **evidence)
    message = (
        f"{where.text} is not normalized: {context.limits.scale_quantile:.0%} of |values| reach "
        f"{typical:.4g} "
        f"(range [{low:.4g}, {high:.4g}], mean {mean:.4g}, std {std:.4g})"
    )
    if std == 0:
        hint = "it is constant: drop it"
    else:
        hint = (
            f"standardize it: {e} = ({e} {'-' if mean >= 0 else '+'} {abs(mean):.4g}) / {std:.4g}, with the training set's mean and std "
            "for every split"
        )
        if integral:
            hint += "; if it is a category code, one-hot encode it or use nn.Embedding instead"
    return context.event("unnormalized_input", "warning", where, message, hint, **evidence)


def _labels(context: _Context, where: _Where, values: np.ndarray, dtype: torch.dtype, num_classes: int):
    events = []
    dtype_name = str(dtype).replace("torch.", "")
    if dtype not in _LONG_LABELS:
        message = (
            f"{where.text} holds {dtype_name} class labels; cross_entropy and nll_loss need int64 "
            "(long) and fail with 'expected target dtype to be Long'"
        )
        hint = _FIXES[("label_dtype", where.source)].format(e=where.expr)
        events.append(context.event("label_dtype", "warning", where, message, hint, classes=num_classes))
    outside = ((values < 0) | (values >= num_classes)) & (values != IGNORE_INDEX)
    count = int(outside.sum())
    if count:
        low, high = float(values.min()), float(values.max())
        message = (
            f"{where.text} has {count} of {values.size} labels outside [0, {num_classes}) (min {low:g}, "
            f"max {high:g}): cross-entropy fails with 'Target out of bounds' (a device-side assert on GPU)"
        )
        if low >= 1 and high == num_classes:
            hint = f"the labels look 1-based: {where.expr} - 1"
        else:
            hint = (
                f"map the labels to 0..{num_classes - 1} (e.g. sklearn's LabelEncoder), or give the model "
                "one output per class"
            )
        events.append(context.event(
            "label_range", "error", where, message, hint,
            count=count, values=values.size, min=low, max=high, classes=num_classes,
        ))
    return events


# -- Datasets, batches and tensors --------------------------------------------------------------


def _check_array(array, context: _Context, label, num_classes) -> List[Event]:
    data = torch.as_tensor(array).detach().cpu()
    where = _Where("x", "the tensor", "x", "tensor")
    if not _is_numeric(data):
        return []
    is_label = num_classes is not None and data.ndim == 1
    return _field_events(context, where, data, None, is_label, num_classes)


def _check_batch(batch, context: _Context, label, num_classes) -> List[Event]:
    return _check_fields(_fields([(0, batch)], label), context, num_classes, "the batch", stacked=True)


def _check_dataset(dataset, context: _Context, label, num_classes) -> List[Event]:
    limits = context.limits
    # An IterableDataset has no indexing: its first items are the sample.
    if isinstance(dataset, torch.utils.data.IterableDataset):
        items = list(enumerate(itertools.islice(dataset, limits.sample_size)))
        sampled = f"{len(items)} sampled items"
    else:
        size = len(dataset)
        chosen = sorted(random.Random(limits.seed).sample(range(size), min(size, limits.sample_size)))
        items = [(i, dataset[i]) for i in chosen]
        sampled = f"the {size} items" if len(items) == size else f"{len(items)} sampled items of {size}"
    return _check_fields(_fields(items, label), context, num_classes, sampled, stacked=False)


def _check_dataloader(loader, context: _Context, label, num_classes) -> List[Event]:
    return _check_dataset(loader.dataset, context, label, num_classes)


_CHECKS = {
    "dataframe": _check_dataframe,
    "array": _check_array,
    "batch": _check_batch,
    "dataset": _check_dataset,
    "dataloader": _check_dataloader,
}


@dataclasses.dataclass
class _Field:
    """The values one field of the samples takes, with the Dataset index of each."""

    name: str
    is_label: bool
    values: List[Tuple[int, object]] = dataclasses.field(default_factory=list)


def _fields(items, label) -> List[_Field]:
    fields: Dict[str, _Field] = {}
    for index, item in items:
        named, label_name = _named(item, label)
        for key, value in named.items():
            fields.setdefault(key, _Field(key, key == label_name)).values.append((index, value))
    return list(fields.values())


def _named(item, label) -> Tuple[Dict[str, object], Optional[str]]:
    """One sample's fields by name, and the name of its label field (None without one)."""
    if isinstance(item, Mapping):
        chosen = label if label is not None else next((k for k in _LABEL_KEYS if k in item), None)
        return {str(k): v for k, v in item.items()}, None if chosen is None else str(chosen)
    if isinstance(item, (tuple, list)):
        names = {1: ["input"], 2: ["input", "label"]}.get(len(item)) or [f"[{i}]" for i in range(len(item))]
        chosen = label if label is not None else (1 if len(item) == 2 else None)
        known = isinstance(chosen, int) and -len(item) <= chosen < len(item)
        return dict(zip(names, item)), names[chosen] if known else None
    return {"input": item}, None


def _as_tensor(value) -> Optional[torch.Tensor]:
    """`value` as the CPU tensor default_collate would make of it; None when it holds no numbers."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, float):  # default_collate turns Python floats into float64
        return torch.tensor(value, dtype=torch.float64)
    if isinstance(value, (int, np.ndarray, np.generic)):
        try:
            return torch.as_tensor(value)
        except (TypeError, RuntimeError):  # arrays of text or objects
            return None
    return None


def _is_numeric(t: torch.Tensor) -> bool:
    return t.dtype != torch.bool and not t.is_complex()


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"{str(value.dtype).replace('torch.', '')} tensor"
    if isinstance(value, (np.ndarray, np.generic)):
        return f"numpy {value.dtype}"
    return type(value).__name__


def _first(items: Sequence[int], context: _Context) -> str:
    shown = ", ".join(str(i) for i in items[: context.limits.examples])
    more = ", ..." if len(items) > context.limits.examples else ""
    return ("item " if len(items) == 1 else "items ") + shown + more


def _groups(groups: Dict[str, List[int]], context: _Context) -> str:
    """'A in 250 items, B in 6 (item 17, ...)', largest group first."""
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    (top, top_items), rest = ordered[0], ordered[1:]
    others = ", ".join(f"{k} in {len(v)} ({_first(v, context)})" for k, v in rest)
    return f"{top} in {len(top_items)} items, {others}"


def _field_where(name: str, stacked: bool) -> _Where:
    """A field of a batch (`stacked`: its tensors hold many samples) or of Dataset items."""
    return _Where(name, f"field {name!r}", name, "tensor" if stacked else "item")


def _check_fields(fields: List[_Field], context: _Context, num_classes, sampled: str, stacked: bool):
    events: List[Event] = []
    floats: Dict[str, Tuple[torch.dtype, bool]] = {}
    for field in fields:
        where = _field_where(field.name, stacked)
        missing = [i for i, v in field.values if v is None]
        if missing:
            message = f"{where.text} is None in {len(missing)} of {sampled} ({_first(missing, context)})"
            hint = (
                "default_collate cannot batch None: make __getitem__ return a value for every index "
                "(fill or drop those rows first)"
            )
            events.append(context.event(
                "missing_values", "error", where, message, hint, count=len(missing), items=len(field.values)
            ))
        types: Dict[str, List[int]] = {}
        for i, value in field.values:
            if value is not None:
                types.setdefault(_describe(value), []).append(i)
        if len(types) > 1:
            message = f"{where.text} changes type across {sampled}: {_groups(types, context)}"
            target = "torch.long" if field.is_label else "torch.float32"
            hint = f"return one type from __getitem__: torch.as_tensor({field.name}, dtype={target})"
            events.append(
                context.event("dtype_inconsistency", "warning", where, message, hint, types=len(types))
            )
        converted = ((i, _as_tensor(v)) for i, v in field.values)
        tensors = [(i, t) for i, t in converted if t is not None and _is_numeric(t)]
        if not tensors:
            continue
        dtype = collections.Counter(t.dtype for _, t in tensors).most_common(1)[0][0]
        if dtype.is_floating_point:
            floats[field.name] = (dtype, field.is_label)
        if stacked:
            found = _field_events(context, where, tensors[0][1], None, field.is_label, num_classes)
        else:
            found = _item_events(context, where, tensors, dtype, field.is_label, num_classes, sampled)
        events.extend(found)
    return events + _mixed_precision(context, floats, stacked)


def _item_events(context, where: _Where, tensors, dtype, is_label, num_classes, sampled: str):
    """Events of one field over the sampled Dataset items."""
    shapes: Dict[str, List[int]] = {}
    for i, t in tensors:
        shapes.setdefault(str(tuple(t.shape)), []).append(i)
    events = []
    if len(shapes) > 1:
        message = f"{where.text} has {len(shapes)} shapes across {sampled}: {_groups(shapes, context)}"
        hint = (
            "default_collate cannot stack them: resize or pad every item to one shape in __getitem__, "
            "or pad in a collate_fn (torch.nn.utils.rnn.pad_sequence)"
        )
        events.append(
            context.event("shape_inconsistency", "warning", where, message, hint, shapes=len(shapes))
        )
    indices = [i for i, _ in tensors]
    small = len(shapes) == 1 and tensors[0][1].numel() <= context.limits.max_columns
    if small:  # a scalar or a feature row: stacked, the field reads like a batch, column by column
        # The widest dtype keeps every value (a stray float among ints, a NaN) intact.
        widest = functools.reduce(torch.promote_types, {t.dtype for _, t in tensors})
        data = torch.stack([t.reshape(-1).to(widest) for _, t in tensors])
        data = data.squeeze(1) if data.shape[1] == 1 else data
        return events + _field_events(context, where, data, indices, is_label, num_classes)
    # Larger items (images, sequences) are summarized item by item, within the bound on kept values.
    numbers = _Numbers(context.limits, parts=len(tensors))
    for i, t in tensors:
        numbers.add(t.unsqueeze(0), [i])
    image_like = min(t.ndim for _, t in tensors) >= 2
    return events + _number_events(
        context, where, numbers, dtype, is_label, num_classes,
        scalar=False, image_like=image_like, outliers=False,
    )


def _mixed_precision(context: _Context, floats: Dict[str, Tuple[torch.dtype, bool]], stacked: bool):
    """A float64 input next to float32 fields: a float32 model fails on it."""
    narrow = sorted({str(d).replace("torch.", "") for d, _ in floats.values() if d != torch.float64})
    if not narrow:
        return []
    events = []
    for name, (dtype, is_label) in floats.items():
        if dtype == torch.float64 and not is_label:  # float64 targets are fine: the loss promotes them
            where = _field_where(name, stacked)
            message = (
                f"{where.text} is float64 while other fields are {'/'.join(narrow)}: a float32 model "
                "fails on it with 'mat1 and mat2 must have the same dtype'"
            )
            hint = _FIXES[("float64", where.source)].format(e=name)
            events.append(context.event("dtype_inconsistency", "warning", where, message, hint))
    return events
