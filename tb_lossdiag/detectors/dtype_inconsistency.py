"""dtype_inconsistency: numbers stored as text, a field whose type changes across items, float64 beside float32."""

import dataclasses

from tb_lossdiag.detectors._data import DataDetector, FloatField, TextColumn, TypeChanges, data_event, groups

# How to make a float64 field float32, by where it lives.
_FLOAT32 = {
    "tensor": "{e} = {e}.float()",
    "item": "return torch.as_tensor({e}, dtype=torch.float32) from __getitem__ (float64 "
    "comes from numpy and pandas: df.astype('float32') beforehand works too)",
}


class DtypeInconsistency(DataDetector):
    """Fires on a text column that is mostly numbers, a field of several types across Dataset
    items, and a float64 input beside float32 fields (a float32 model fails on it)."""

    id = "dtype_inconsistency"

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        numeric_text: float = 0.5  # a text column whose values parse as numbers this often is numeric

    def on_data(self, obs):
        if isinstance(obs, TextColumn):
            return self._text(obs)
        if isinstance(obs, TypeChanges) and len(obs.types) > 1:
            message = f"{obs.place.text} changes type across {obs.sampled}: {groups(obs.types)}"
            target = "torch.long" if obs.is_label else "torch.float32"
            hint = f"return one type from __getitem__: torch.as_tensor({obs.place.expr}, dtype={target})"
            return [data_event(self, obs, "warning", message, hint, types=len(obs.types))]
        if isinstance(obs, FloatField):
            return self._precision(obs)
        return ()

    def _text(self, obs: TextColumn):
        # Mostly numbers: a numeric column that a few stray tokens ("?", "n/a") turned into text.
        if not obs.texts or obs.numbers < self.thresholds.numeric_text * obs.texts:
            return ()
        place = obs.place
        quoted = ", ".join(repr(v) for v in obs.stray_examples)
        why = "its numbers are stored as text"
        if obs.strays:
            why = f"{obs.strays} of {obs.texts} values are not numbers ({quoted})"
        hint = (
            f"{place.expr} = pd.to_numeric({place.expr}, errors='coerce') (non-numbers become NaN: then "
            "dropna() or fillna())"
        )
        if obs.strays:
            hint += f", or pd.read_csv(path, na_values=[{quoted}])"
        return [data_event(
            self, obs, "warning", f"{place.text} is text, not numbers: {why}", hint,
            not_numbers=obs.strays, values=obs.texts,
        )]

    def _precision(self, obs: FloatField):
        # float64 targets are fine: the loss promotes them.
        narrow = [d for d in obs.float_dtypes if d != "float64"]
        if obs.dtype != "float64" or obs.is_label or not narrow:
            return ()
        message = (
            f"{obs.place.text} is float64 while other fields are {'/'.join(narrow)}: a float32 model "
            "fails on it with 'mat1 and mat2 must have the same dtype'"
        )
        hint = _FLOAT32[obs.place.source].format(e=obs.place.expr)
        return [data_event(self, obs, "warning", message, hint)]
