"""Observations of a data check, made by hand for the data detector tests."""

import numpy as np

from tb_lossdiag.detectors._data import Place, Values

PLACE = Place("x", "the tensor", "x", "tensor")


def observe(kind, **fields):
    """An observation of `kind` about the tensor `x`, at step -1."""
    return kind(step=-1, name=None, place=PLACE, **fields)


def values(numbers, *, dtype="float32", nonfinite=0, bad_items=(), is_label=False, num_classes=None):
    """A Values observation of a 1-D column holding `numbers` (and `nonfinite` NaN/Inf)."""
    array = np.asarray(numbers, dtype=np.float64)
    return observe(
        Values, dtype=dtype, values=array, total=array.size + nonfinite, nonfinite=nonfinite,
        bad_items=tuple(bad_items), is_label=is_label, num_classes=num_classes, scalar=True, column=True,
    )
