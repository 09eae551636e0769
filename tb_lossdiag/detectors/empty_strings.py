"""empty_strings: blank strings in a text column, missing values in disguise."""

from tb_lossdiag.detectors._data import DataDetector, TextColumn, data_event


class EmptyStrings(DataDetector):
    """Fires on a text column holding "" or whitespace-only values."""

    id = "empty_strings"

    def on_data(self, obs):
        if not isinstance(obs, TextColumn) or not obs.blanks:
            return ()
        place, blanks, rows = obs.place, obs.blanks, obs.rows
        message = f"{place.text} has {blanks} empty strings ({blanks / rows:.1%}) in {rows} rows"
        hint = (
            f"they are missing values in disguise: {place.expr} = {place.expr}.replace(r'^\\s*$', None, "
            "regex=True), then dropna() or fillna()"
        )
        return [data_event(
            self, obs, "warning", message, hint, count=blanks, rows=rows, fraction=blanks / rows
        )]
