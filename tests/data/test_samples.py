"""Dataset, DataLoader, batch and tensor checks: each problem found with its field, its items and its fix."""

import torch
from torch.utils.data import DataLoader, TensorDataset

from data_helpers import Items, check, clean_frame, only


def test_dataset_with_mixed_dtypes():
    """A float64 pandas column next to float32 tensors, and labels returned as int or float."""
    table = clean_frame(50)
    ds = Items(50, lambda i: {
        "features": torch.randn(3),
        "height": torch.tensor(table["height"].iloc[i]),  # float64, as pandas gives it
        "label": 1 if i % 3 else 1.0,
    })
    events = check(ds)
    kinds = {(e.kind, e.tag) for e in events}
    assert kinds == {("dtype_inconsistency", "data/height"), ("dtype_inconsistency", "data/label")}
    height = next(e for e in events if e.tag == "data/height")
    assert "float64" in height.message and "dtype=torch.float32" in height.hint
    label = next(e for e in events if e.tag == "data/label")
    assert "int in 33 items, float in 17 (items 0, 3, 6, ...)" in label.message


def test_dataset_item_with_none_and_odd_shape():
    """One item returns None as its label, another a shorter vector: both named by item index."""
    ds = Items(40, lambda i: (torch.randn(3 if i != 7 else 2), None if i == 5 else i % 2))
    events = check(ds)
    missing = only(events, "missing_values")
    assert (missing.tag, missing.severity) == ("data/label", "error")
    assert "item 5" in missing.message
    shape = only(events, "shape_inconsistency")
    assert shape.tag == "data/input" and "(2,) in 1 (item 7)" in shape.message


def test_labels_int32_out_of_range_with_classes_from_the_model():
    """int32 labels 1..3 for a 3-output model: int64 is needed and labels must lie in [0, 3)."""
    torch.manual_seed(0)
    y = torch.randint(1, 4, (60,), dtype=torch.int32)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    events = check(TensorDataset(torch.randn(60, 4), y), model=model)
    dtype = only(events, "label_dtype")
    assert dtype.tag == "data/label" and "int32" in dtype.message and "torch.long" in dtype.hint
    outside = only(events, "label_range")
    assert outside.severity == "error" and outside.evidence["count"] == int((y == 3).sum())
    assert "1-based" in outside.hint
    assert check(TensorDataset(torch.randn(60, 4), y.long() - 1), model=model) == []


def test_float_labels_for_a_classifier_in_a_batch():
    """Float class labels fail cross_entropy; -100 is its ignore_index, not out of range."""
    y = torch.tensor([0.0, 2.0, 1.0, -100.0])
    events = check((torch.randn(4, 2), y), num_classes=3)
    assert [e.kind for e in events] == ["label_dtype"]
    assert "label = label.long()" in events[0].hint


def test_raw_pixel_images():
    """0-255 images in a Dataset, and as a plain tensor, need / 255."""
    images = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)
    for events in (check(TensorDataset(images, torch.zeros(32).long())), check(images.float())):
        event = only(events, "unnormalized_input")
        assert "0-255" in event.message and "/ 255" in event.hint


def test_tensor_nonfinite_values_per_column():
    """A 2-D tensor is checked column by column: NaN and inf counted where they are."""
    x = torch.randn(100, 4)
    x[5, 1], x[6, 1], x[7, 3] = float("nan"), float("inf"), float("nan")
    events = check(x)
    assert {e.tag: e.evidence["count"] for e in events} == {"data/x[:, 1]": 2, "data/x[:, 3]": 1}
    assert {e.kind for e in events} == {"nonfinite_values"} and {e.severity for e in events} == {"error"}


def test_dataset_sample_is_bounded_and_reproducible():
    """At most sample_size seeded items are read, the same ones each time; NaN items are counted."""
    ds = Items(1000, lambda i: torch.tensor([float("nan") if i % 10 == 0 else 0.0, 1.0]))
    first = check(ds, sample_size=50)
    reads = list(ds.reads)
    assert len(reads) == 50
    event = only(first, "nonfinite_values")
    assert event.tag == "data/input[:, 0]"
    assert event.evidence["items"] == sum(i % 10 == 0 for i in reads) > 0
    ds.reads.clear()
    assert check(DataLoader(ds, batch_size=4), sample_size=50) == first and ds.reads == reads
