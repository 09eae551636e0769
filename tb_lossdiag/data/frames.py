"""What a data check reads of a pandas DataFrame: column by column (pandas is imported only here)."""

import re
from typing import List

import numpy as np
import torch

from tb_lossdiag.data.numbers import Check, observe_field
from tb_lossdiag.detectors._data import EXAMPLES, MissingCells, Place, TextColumn, UnnamedColumn
from tb_lossdiag.events import Event

# pandas' name for a column without a header, typically the index that to_csv() wrote.
_UNNAMED = re.compile(r"Unnamed: \d+(_level_\d+)?")


def check_frame(df, check: Check, label, num_classes) -> List[Event]:
    """Events of every column of a DataFrame or Series."""
    import pandas as pd

    if isinstance(df, pd.Series):
        df = df.to_frame()
    events: List[Event] = []
    for position, column in enumerate(df.columns):
        series = df.iloc[:, position]
        events.extend(_column(check, series, str(column), column == label, num_classes))
    return events


def _column(check: Check, series, column: str, is_label: bool, num_classes) -> List[Event]:
    from pandas.api import types

    place = Place(column, f"column {column!r}", f"df[{column!r}]", "df")
    rows = len(series)
    if _UNNAMED.fullmatch(column):
        # Its values are row numbers, not data: no other check applies to it.
        row_numbers = bool(series.dtype.kind in "iu" and series.is_monotonic_increasing and series.is_unique)
        return check.observe(UnnamedColumn, place, rows=rows, row_numbers=row_numbers)
    numeric = types.is_numeric_dtype(series) and not types.is_bool_dtype(series)
    dated = types.is_datetime64_any_dtype(series)
    holds = "numbers" if numeric else "dates" if dated else "other"
    events = check.observe(MissingCells, place, missing=int(series.isna().sum()), rows=rows, holds=holds)
    present = series.dropna()
    if numeric:
        array = present.to_numpy()
        values = torch.tensor(array.astype(np.float64) if array.dtype == object else array)
        events.extend(observe_field(check, place, values, None, is_label, num_classes))
    elif not dated and (types.is_object_dtype(series) or types.is_string_dtype(series)):
        events.extend(_text(check, place, present, rows))
    return events


def _text(check: Check, place: Place, present, rows: int) -> List[Event]:
    """Events of the present values of a text column."""
    import pandas as pd

    blank = present.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
    text = present[~blank]
    parsed = pd.to_numeric(text, errors="coerce")
    strays = text[parsed.isna()]
    return check.observe(
        TextColumn, place, rows=rows, blanks=int(blank.sum()), texts=len(text),
        numbers=int(parsed.notna().sum()), strays=len(strays),
        stray_examples=_distinct(strays),
    )


def _distinct(values) -> tuple:
    """The first EXAMPLES distinct values, read only as far as needed."""
    found: list = []
    for value in values:
        if value not in found:
            found.append(value)
            if len(found) == EXAMPLES:
                break
    return tuple(found)
