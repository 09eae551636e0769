"""DataFrame checks: each problem made the way users make it, found with its column and its fix."""

import numpy as np
import pandas as pd
import pytest

from data_helpers import clean_frame, only
from tb_lossdiag import check_dataframe


def test_csv_round_trip_index_becomes_unnamed_column(tmp_path):
    """to_csv(path) writes the index; read_csv(path) brings it back as 'Unnamed: 0'."""
    path = tmp_path / "train.csv"
    clean_frame()[100:].to_csv(path)  # a split keeps its index: 100, 101, ...
    events = check_dataframe(pd.read_csv(path))
    event = only(events, "stray_index_column")
    assert len(events) == 1  # the row numbers are not also reported as an unnormalized column
    assert (event.tag, event.severity, event.category, event.step) == ("data/Unnamed: 0", "warning", "data", -1)
    assert "index=False" in event.hint and "index_col=0" in event.hint
    assert event.evidence["row_numbers"] == 1
    assert check_dataframe(pd.read_csv(path, index_col=0)) == []


def test_csv_missing_cells_and_nat_dates(tmp_path):
    """Empty cells read as NaN (numbers), NaN (text) and NaT (dates): one event per column, with counts."""
    path = tmp_path / "people.csv"
    rows = ["age,city,joined"] + [f"{0.1 * (i % 7)},oslo,2024-01-{1 + i % 28:02d}" for i in range(47)]
    rows += [",oslo,2024-02-01", "0.3,,2024-02-02", "0.2,rome,"]
    path.write_text("\n".join(rows) + "\n")
    events = check_dataframe(pd.read_csv(path, parse_dates=["joined"]), step=5, name="train")
    by_column = {e.tag: e for e in events}
    assert sorted(by_column) == ["data/age", "data/city", "data/joined"]
    assert {e.kind for e in events} == {"missing_values"}
    age = by_column["data/age"]
    assert age.message == "train: column 'age' has 1 missing values (NaN; 2.0%) in 50 rows"
    assert (age.severity, age.step, age.evidence["count"]) == ("error", 5, 1)
    assert "df.dropna(subset=['age'])" in age.hint and "fillna" in age.hint
    assert by_column["data/joined"].severity == "error" and "NaT" in by_column["data/joined"].message
    assert by_column["data/city"].severity == "warning"  # text: encoded later, not NaN in a tensor


def test_empty_strings_and_numbers_stored_as_text():
    """'' and '  ' are missing values in disguise; '?' turns a number column into text."""
    df = clean_frame(100)
    df.loc[[3, 8], "city"] = ["", "  "]
    df["price"] = ["1.5"] * 97 + ["?", "n/a", "?"]
    events = check_dataframe(df)
    blank = only(events, "empty_strings")
    assert (blank.tag, blank.evidence["count"]) == ("data/city", 2)
    assert "replace(" in blank.hint
    text = only(events, "dtype_inconsistency")
    assert text.tag == "data/price" and "3 of 100" in text.message and "'?', 'n/a'" in text.message
    assert "pd.to_numeric(df['price'], errors='coerce')" in text.hint


def test_outlier_column_and_infinite_values():
    """A 1e6 among standard-normal values is an outlier, not an unnormalized column; inf is an error."""
    df = clean_frame()
    df.loc[7, "height"] = 1e6
    df.loc[9, "weight"] = np.inf
    events = check_dataframe(df)
    outlier = only(events, "outlier_values")
    assert (outlier.tag, outlier.evidence["count"], outlier.evidence["worst"]) == ("data/height", 1, 1e6)
    assert "clip(" in outlier.hint
    infinite = only(events, "nonfinite_values")
    assert (infinite.tag, infinite.severity) == ("data/weight", "error")
    assert len(events) == 2


def test_unnormalized_column_gets_its_own_standardization():
    """Ages 18-90 next to normalized columns: the fix quotes the column's mean and std."""
    df = clean_frame()
    df["age"] = np.random.default_rng(1).integers(18, 91, len(df))
    event = only(check_dataframe(df), "unnormalized_input")
    mean, std = df["age"].mean(), df["age"].std(ddof=0)
    assert event.tag == "data/age"
    assert f"df['age'] = (df['age'] - {mean:.4g}) / {std:.4g}" in event.hint


def test_dataframe_label_column_is_checked_as_labels():
    """label= names the class column: checked against num_classes, not for normalization."""
    df = clean_frame(100)
    df["grade"] = np.arange(100) % 6  # 0..5, for a 5-class model
    event = only(check_dataframe(df, label="grade", num_classes=5), "label_range")
    assert (event.tag, event.evidence["count"], event.evidence["max"]) == ("data/grade", 16, 5)
    assert check_dataframe(df, label="grade", num_classes=6) == []
    with pytest.raises(ValueError, match="'grade_'"):
        check_dataframe(df, label="grade_")
