"""empty_strings: blank values of a text column are missing values in disguise."""

from data_observations import observe
from tb_lossdiag.detectors._data import TextColumn
from tb_lossdiag.detectors.empty_strings import EmptyStrings


def _text(blanks):
    return observe(TextColumn, rows=100, blanks=blanks, texts=100 - blanks, numbers=0, strays=100 - blanks,
                   stray_examples=("paris", "oslo"))


def test_blank_strings_fire():
    """3 blank values in 100 rows: counted, with the replace() fix."""
    (event,) = EmptyStrings().on_data(_text(3))
    assert event.evidence["count"] == 3 and "3 empty strings (3.0%) in 100 rows" in event.message
    assert "replace(" in event.hint


def test_text_without_blanks_is_quiet():
    assert EmptyStrings().on_data(_text(0)) == ()
