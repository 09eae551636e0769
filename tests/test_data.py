"""Data checks: each problem made the way users make it, found with its column and its fix; clean data is quiet."""

import importlib
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from tb_lossdiag import DiagWriter, check_dataframe, read_logdir
from tb_lossdiag.data import prepare_check
from tb_lossdiag.diagnoser import Diagnoser


def _check(data, **options):
    return prepare_check(data, **options)(Diagnoser())


def _only(events, kind):
    """The one event of `kind`, failing with every event's kind, tag and message otherwise."""
    kinds = [e.kind for e in events]
    assert kinds.count(kind) == 1, [(e.kind, e.tag, e.message) for e in events]
    return events[kinds.index(kind)]


def _clean_frame(rows=300):
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "height": rng.normal(size=rows),
        "weight": rng.normal(size=rows),
        "city": rng.choice(["paris", "oslo", "rome"], rows),
        "member": rng.random(rows) < 0.5,
    })


class _Items(Dataset):
    """A map-style Dataset whose __getitem__ is `make(i)`, counting the reads."""

    def __init__(self, size, make):
        self.size, self.make, self.reads = size, make, []

    def __len__(self):
        return self.size

    def __getitem__(self, i):
        self.reads.append(i)
        return self.make(i)


def test_import_does_not_import_pandas(monkeypatch):
    """pandas stays optional: only a DataFrame given to a check needs it."""
    # A fresh import in this process (a subprocess would re-import torch: seconds); monkeypatch
    # puts the modules back afterwards.
    for module in list(sys.modules):
        if module.split(".")[0] in ("pandas", "tb_lossdiag"):
            monkeypatch.delitem(sys.modules, module)
    importlib.import_module("tb_lossdiag")
    assert "pandas" not in sys.modules


def test_clean_data_gives_nothing():
    """A normalized, complete DataFrame, a clean TensorDataset, batch and tensor raise no event."""
    torch.manual_seed(0)
    x, y = torch.randn(200, 5), torch.randint(0, 4, (200,))
    assert check_dataframe(_clean_frame()) == []
    assert _check(TensorDataset(x, y), num_classes=4) == []
    assert _check((x, y), num_classes=4) == []
    assert _check({"image": torch.rand(16, 3, 8, 8), "label": y[:16]}, num_classes=4) == []
    assert _check(x.numpy()) == []


def test_csv_round_trip_index_becomes_unnamed_column(tmp_path):
    """to_csv(path) writes the index; read_csv(path) brings it back as 'Unnamed: 0'."""
    path = tmp_path / "train.csv"
    _clean_frame()[100:].to_csv(path)  # a split keeps its index: 100, 101, ...
    events = check_dataframe(pd.read_csv(path))
    event = _only(events, "stray_index_column")
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
    df = _clean_frame(100)
    df.loc[[3, 8], "city"] = ["", "  "]
    df["price"] = ["1.5"] * 97 + ["?", "n/a", "?"]
    events = check_dataframe(df)
    blank = _only(events, "empty_strings")
    assert (blank.tag, blank.evidence["count"]) == ("data/city", 2)
    assert "replace(" in blank.hint
    text = _only(events, "dtype_inconsistency")
    assert text.tag == "data/price" and "3 of 100" in text.message and "'?', 'n/a'" in text.message
    assert "pd.to_numeric(df['price'], errors='coerce')" in text.hint


def test_outlier_column_and_infinite_values():
    """A 1e6 among standard-normal values is an outlier, not an unnormalized column; inf is an error."""
    df = _clean_frame()
    df.loc[7, "height"] = 1e6
    df.loc[9, "weight"] = np.inf
    events = check_dataframe(df)
    outlier = _only(events, "outlier_values")
    assert (outlier.tag, outlier.evidence["count"], outlier.evidence["worst"]) == ("data/height", 1, 1e6)
    assert "clip(" in outlier.hint
    infinite = _only(events, "nonfinite_values")
    assert (infinite.tag, infinite.severity) == ("data/weight", "error")
    assert len(events) == 2


def test_unnormalized_column_gets_its_own_standardization():
    """Ages 18-90 next to normalized columns: the fix quotes the column's mean and std."""
    df = _clean_frame()
    df["age"] = np.random.default_rng(1).integers(18, 91, len(df))
    event = _only(check_dataframe(df), "unnormalized_input")
    mean, std = df["age"].mean(), df["age"].std(ddof=0)
    assert event.tag == "data/age"
    assert f"df['age'] = (df['age'] - {mean:.4g}) / {std:.4g}" in event.hint


def test_dataframe_label_column_is_checked_as_labels():
    """label= names the class column: checked against num_classes, not for normalization."""
    df = _clean_frame(100)
    df["grade"] = np.arange(100) % 6  # 0..5, for a 5-class model
    event = _only(check_dataframe(df, label="grade", num_classes=5), "label_range")
    assert (event.tag, event.evidence["count"], event.evidence["max"]) == ("data/grade", 16, 5)
    assert check_dataframe(df, label="grade", num_classes=6) == []
    with pytest.raises(ValueError, match="'grade_'"):
        check_dataframe(df, label="grade_")


def test_dataset_with_mixed_dtypes():
    """A float64 pandas column next to float32 tensors, and labels returned as int or float."""
    table = _clean_frame(50)
    ds = _Items(50, lambda i: {
        "features": torch.randn(3),
        "height": torch.tensor(table["height"].iloc[i]),  # float64, as pandas gives it
        "label": 1 if i % 3 else 1.0,
    })
    events = _check(ds)
    kinds = {(e.kind, e.tag) for e in events}
    assert kinds == {("dtype_inconsistency", "data/height"), ("dtype_inconsistency", "data/label")}
    height = next(e for e in events if e.tag == "data/height")
    assert "float64" in height.message and "dtype=torch.float32" in height.hint
    label = next(e for e in events if e.tag == "data/label")
    assert "int in 33 items, float in 17 (items 0, 3, 6, ...)" in label.message


def test_dataset_item_with_none_and_odd_shape():
    """One item returns None as its label, another a shorter vector: both named by item index."""
    ds = _Items(40, lambda i: (torch.randn(3 if i != 7 else 2), None if i == 5 else i % 2))
    events = _check(ds)
    missing = _only(events, "missing_values")
    assert (missing.tag, missing.severity) == ("data/label", "error")
    assert "item 5" in missing.message
    shape = _only(events, "shape_inconsistency")
    assert shape.tag == "data/input" and "(2,) in 1 (item 7)" in shape.message


def test_labels_int32_out_of_range_with_classes_from_the_model():
    """int32 labels 1..3 for a 3-output model: int64 is needed and labels must lie in [0, 3)."""
    torch.manual_seed(0)
    y = torch.randint(1, 4, (60,), dtype=torch.int32)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    events = _check(TensorDataset(torch.randn(60, 4), y), model=model)
    dtype = _only(events, "label_dtype")
    assert dtype.tag == "data/label" and "int32" in dtype.message and "torch.long" in dtype.hint
    outside = _only(events, "label_range")
    assert outside.severity == "error" and outside.evidence["count"] == int((y == 3).sum())
    assert "1-based" in outside.hint
    assert _check(TensorDataset(torch.randn(60, 4), y.long() - 1), model=model) == []


def test_float_labels_for_a_classifier_in_a_batch():
    """Float class labels fail cross_entropy; -100 is its ignore_index, not out of range."""
    y = torch.tensor([0.0, 2.0, 1.0, -100.0])
    events = _check((torch.randn(4, 2), y), num_classes=3)
    assert [e.kind for e in events] == ["label_dtype"]
    assert "label = label.long()" in events[0].hint


def test_raw_pixel_images():
    """0-255 images in a Dataset, and as a plain tensor, need / 255."""
    images = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)
    for events in (_check(TensorDataset(images, torch.zeros(32).long())), _check(images.float())):
        event = _only(events, "unnormalized_input")
        assert "0-255" in event.message and "/ 255" in event.hint


def test_tensor_nonfinite_values_per_column():
    """A 2-D tensor is checked column by column: NaN and inf counted where they are."""
    x = torch.randn(100, 4)
    x[5, 1], x[6, 1], x[7, 3] = float("nan"), float("inf"), float("nan")
    events = _check(x)
    assert {e.tag: e.evidence["count"] for e in events} == {"data/x[:, 1]": 2, "data/x[:, 3]": 1}
    assert {e.kind for e in events} == {"nonfinite_values"} and {e.severity for e in events} == {"error"}


def test_dataset_sample_is_bounded_and_reproducible():
    """At most sample_size seeded items are read, the same ones each time; NaN items are counted."""
    ds = _Items(1000, lambda i: torch.tensor([float("nan") if i % 10 == 0 else 0.0, 1.0]))
    first = _check(ds, sample_size=50)
    reads = list(ds.reads)
    assert len(reads) == 50
    event = _only(first, "nonfinite_values")
    assert event.tag == "data/input[:, 0]"
    assert event.evidence["items"] == sum(i % 10 == 0 for i in reads) > 0
    ds.reads.clear()
    assert _check(DataLoader(ds, batch_size=4), sample_size=50) == first and ds.reads == reads


def test_writer_records_data_events_end_to_end(logdir):
    """check_data(df) writes its events: read back as category 'data' at step -1."""
    df = _clean_frame()
    df.loc[:4, "height"] = np.nan
    with DiagWriter(logdir) as writer:
        returned = writer.check_data(df)
    (run,) = read_logdir(logdir)
    assert [(e.kind, e.tag, e.category, e.step) for e in run.events] == [
        ("missing_values", "data/height", "data", -1)
    ]
    assert run.events[0].message.startswith("train: column 'height' has 5 missing values")
    assert [e.message for e in returned] == [e.message for e in run.events]


def test_writer_rejects_wrong_arguments_and_survives_a_failing_dataset(logdir):
    """A string or an unknown option raises TypeError; a Dataset that breaks becomes diagnostic_failure."""
    with DiagWriter(logdir) as writer:
        with pytest.raises(TypeError, match="DataFrame"):
            writer.check_data("train.csv")
        with pytest.raises(TypeError, match="num_classes"):
            writer.check_data(torch.zeros(3), classes=3)

        def broken(i):
            raise RuntimeError("disk gone")

        with pytest.warns(RuntimeWarning, match="disk gone"):
            events = writer.check_data(_Items(10, broken), name="val")
    assert [(e.kind, e.tag) for e in events] == [("diagnostic_failure", "data check of 'val'")]
