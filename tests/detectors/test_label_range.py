"""label_range: class labels outside [0, num_classes)."""

from data_observations import values
from tb_lossdiag.detectors.label_range import LabelRange


def test_one_based_labels_fire_with_the_shift():
    """Labels 1..3 for 3 classes: the 3s are out of range, and the fix subtracts 1."""
    (event,) = LabelRange().on_data(values([1, 2, 3, 3], dtype="int64", is_label=True, num_classes=3))
    assert event.severity == "error" and event.evidence["count"] == 2
    assert "2 of 4 labels outside [0, 3)" in event.message and event.hint == "the labels look 1-based: x - 1"


def test_labels_in_range_and_ignore_index_are_quiet():
    """-100 is CrossEntropyLoss's ignore_index: a legal label."""
    assert LabelRange().on_data(values([0, 1, 2, -100], dtype="int64", is_label=True, num_classes=3)) == ()
