"""missing_values: NaN, None or NaT in a DataFrame column, or None in a Dataset field."""

from tb_lossdiag.detectors._data import DataDetector, MissingCells, MissingItems, data_event, first

_LABELS = {"numbers": "NaN", "dates": "NaT", "other": "None/NaN"}


class MissingValues(DataDetector):
    """Fires on a column with missing cells, or a field that is None in some sampled items."""

    id = "missing_values"

    def on_data(self, obs):
        if isinstance(obs, MissingCells) and obs.missing:
            return [self._cells(obs)]
        if isinstance(obs, MissingItems) and obs.items:
            message = f"{obs.place.text} is None in {len(obs.items)} of {obs.sampled} ({first(obs.items)})"
            hint = (
                "default_collate cannot batch None: make __getitem__ return a value for every index "
                "(fill or drop those rows first)"
            )
            return [data_event(self, obs, "error", message, hint, count=len(obs.items), items=obs.total)]
        return ()

    def _cells(self, obs: MissingCells):
        place, missing, rows = obs.place, obs.missing, obs.rows
        message = (
            f"{place.text} has {missing} missing values ({_LABELS[obs.holds]}; {missing / rows:.1%}) "
            f"in {rows} rows"
        )
        drop = f"df = df.dropna(subset=[{place.column!r}])"
        if obs.holds == "numbers":
            hint = f"{drop}, or fill them: {place.expr} = {place.expr}.fillna({place.expr}.median())"
        elif obs.holds == "dates":
            hint = f"{drop} (NaT becomes a huge negative number once converted to a number)"
        else:
            hint = f"{place.expr} = {place.expr}.fillna('unknown'), or {drop}"
        # Missing numbers and dates become NaN in the input tensor, and NaN in the loss.
        severity = "warning" if obs.holds == "other" else "error"
        return data_event(
            self, obs, severity, message, hint, count=missing, rows=rows, fraction=missing / rows
        )
