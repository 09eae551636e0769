"""stray_index_column: an 'Unnamed: N' column is reported with the to_csv/read_csv fix."""

from data_observations import observe, values
from tb_lossdiag.detectors._data import UnnamedColumn
from tb_lossdiag.detectors.stray_index_column import StrayIndexColumn


def test_unnamed_column_of_row_numbers_fires():
    """Row numbers under no header: an index that to_csv() wrote."""
    (event,) = StrayIndexColumn().on_data(observe(UnnamedColumn, rows=50, row_numbers=True))
    assert (event.kind, event.tag, event.category) == ("stray_index_column", "data/x", "data")
    assert "row numbers of an index" in event.message and "index=False" in event.hint


def test_named_column_is_quiet():
    """A column with a header (seen as its values) is not a stray index."""
    assert StrayIndexColumn().on_data(values(range(50))) == ()
