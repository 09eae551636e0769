"""missing_values: missing cells are errors where they become NaN in a tensor, text ones warnings."""

from data_observations import observe
from tb_lossdiag.detectors._data import MissingCells, MissingItems
from tb_lossdiag.detectors.missing_values import MissingValues


def test_missing_dates_and_text_fire_with_their_severity():
    """NaT dates are errors (a huge negative number once converted); missing text is a warning."""
    (dates,) = MissingValues().on_data(observe(MissingCells, missing=2, rows=40, holds="dates"))
    assert dates.severity == "error" and "2 missing values (NaT; 5.0%) in 40 rows" in dates.message
    (text,) = MissingValues().on_data(observe(MissingCells, missing=1, rows=4, holds="other"))
    assert text.severity == "warning" and "fillna('unknown')" in text.hint


def test_none_items_fire_and_complete_data_is_quiet():
    """A None field in items 3 and 9 names them; no missing cell or item: nothing."""
    (event,) = MissingValues().on_data(observe(MissingItems, items=(3, 9), total=20, sampled="the 20 items"))
    assert "is None in 2 of the 20 items (items 3, 9)" in event.message and event.evidence["items"] == 20
    assert MissingValues().on_data(observe(MissingCells, missing=0, rows=40, holds="numbers")) == ()
    assert MissingValues().on_data(observe(MissingItems, items=(), total=20, sampled="the 20 items")) == ()
