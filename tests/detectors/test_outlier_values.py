"""outlier_values: values more than outlier_z robust standard deviations from the median."""

import numpy as np

from data_observations import values
from tb_lossdiag.detectors.outlier_values import OutlierValues

NORMAL = np.random.default_rng(0).normal(size=500)
SPREAD = 1.4826 * np.median(np.abs(NORMAL - np.median(NORMAL)))


def test_far_value_fires_with_its_clip_bounds():
    """A 1e6 among standard-normal values: one outlier, the clip bounds in the evidence."""
    (event,) = OutlierValues().on_data(values(np.r_[NORMAL, 1e6]))
    assert (event.evidence["count"], event.evidence["worst"]) == (1, 1e6)
    assert event.evidence["low"] < -9 and 9 < event.evidence["high"] < 11 and "clip(" in event.hint


def test_outlier_z_sets_how_far_is_far():
    """A value 7 robust sigmas out is an outlier for outlier_z 5, not for the default 10."""
    column = values(np.r_[NORMAL, np.median(NORMAL) + 7 * SPREAD])
    assert OutlierValues().on_data(column) == ()
    (event,) = OutlierValues(outlier_z=5).on_data(column)
    assert "more than 5 robust standard deviations" in event.message


def test_constant_column_and_labels_are_quiet():
    """Mostly one value (a flag): the rare others are the signal; labels are judged as labels."""
    assert OutlierValues().on_data(values([0.0] * 99 + [50.0])) == ()
    assert OutlierValues().on_data(values(np.r_[NORMAL, 1e6], is_label=True)) == ()
