"""label_dtype: class labels cross_entropy refuses for their dtype."""

from data_observations import values
from tb_lossdiag.detectors.label_dtype import LabelDtype


def test_float_class_labels_fire():
    """float32 labels of a 3-class problem: cross_entropy needs int64."""
    (event,) = LabelDtype().on_data(values([0, 2, 1], dtype="float32", is_label=True, num_classes=3))
    assert "holds float32 class labels" in event.message and event.hint == "x = x.long()"


def test_int64_labels_and_labels_without_classes_are_quiet():
    """int64 is what the loss wants; without num_classes the labels may be regression targets."""
    assert LabelDtype().on_data(values([0, 2, 1], dtype="int64", is_label=True, num_classes=3)) == ()
    assert LabelDtype().on_data(values([0.5, 2.5], dtype="float32", is_label=True)) == ()
