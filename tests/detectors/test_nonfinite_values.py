"""nonfinite_values: NaN/Inf in checked data, with the items holding them."""

from data_observations import values
from tb_lossdiag.detectors.nonfinite_values import NonfiniteValues


def test_nonfinite_values_fire_with_their_items():
    """2 NaN among 100 values, in items 4 and 40: an error naming both."""
    (event,) = NonfiniteValues().on_data(values(range(98), nonfinite=2, bad_items=(4, 40)))
    assert event.severity == "error" and event.evidence["count"] == 2
    assert "2 non-finite values (NaN or inf; 2.0%) among 100 values, in 2 items (items 4, 40)" in event.message
    assert "nan_to_num" in event.hint


def test_finite_values_are_quiet():
    assert NonfiniteValues().on_data(values(range(100))) == ()
