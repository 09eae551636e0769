"""stray_index_column: a DataFrame column without a header, typically the index to_csv() wrote."""

from tb_lossdiag.detectors._data import DataDetector, UnnamedColumn, data_event


class StrayIndexColumn(DataDetector):
    """Fires on every 'Unnamed: N' column: its values are row numbers or nothing, never a feature."""

    id = "stray_index_column"

    def on_data(self, obs):
        if not isinstance(obs, UnnamedColumn):
            return ()
        column = obs.place.column
        what = "holds the row numbers of an index" if obs.row_numbers else "has no header"
        message = (
            f"{obs.place.text} {what}: a DataFrame written with to_csv() keeps its index as a column, and "
            f"reading the file back names it {column!r}"
        )
        hint = (
            "write with df.to_csv(path, index=False), or read with pd.read_csv(path, index_col=0); "
            f"or drop it: df = df.drop(columns=[{column!r}])"
        )
        return [data_event(self, obs, "warning", message, hint, rows=obs.rows, row_numbers=obs.row_numbers)]
