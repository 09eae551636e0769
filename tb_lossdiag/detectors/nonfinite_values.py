"""nonfinite_values: NaN or Inf in a DataFrame column, a tensor, or a Dataset field."""

from tb_lossdiag.detectors._data import DataDetector, Values, data_event, first

# The fix, by where the data lives.
_FIXES = {
    "df": "{e} = {e}.replace([np.inf, -np.inf], np.nan), then dropna() or fillna()",
    "tensor": "drop those rows or fix the log/division that made them; {e} = torch.nan_to_num({e}) "
    "only hides them",
    "item": "fix the log/division in __getitem__ that made them, or leave those items out of the dataset",
}


class NonfiniteValues(DataDetector):
    """Fires on any non-finite value, with the Dataset items holding them."""

    id = "nonfinite_values"

    def on_data(self, obs):
        if not isinstance(obs, Values) or not obs.nonfinite:
            return ()
        items = ""
        if obs.bad_items:
            items = f", in {len(obs.bad_items)} items ({first(obs.bad_items)})"
        message = (
            f"{obs.place.text} has {obs.nonfinite} non-finite values (NaN or inf; "
            f"{obs.nonfinite / obs.total:.1%}) among {obs.total} values{items}"
        )
        hint = _FIXES[obs.place.source].format(e=obs.place.expr)
        return [data_event(
            self, obs, "error", message, hint, count=obs.nonfinite, values=obs.total, items=len(obs.bad_items)
        )]
