"""label_dtype: class labels that are not int64, which cross_entropy and nll_loss refuse."""

from tb_lossdiag.detectors._data import DataDetector, Values, data_event

_ACCEPTED = ("int64", "uint8")  # the target dtypes cross_entropy and nll_loss accept
# The fix, by where the labels live.
_FIXES = {
    "df": "{e} = {e}.astype('int64')",
    "tensor": "{e} = {e}.long()",
    "item": "return torch.as_tensor({e}, dtype=torch.long) from __getitem__",
}


class LabelDtype(DataDetector):
    """Fires on a label column of class indices (num_classes given) whose dtype is not int64."""

    id = "label_dtype"

    def on_data(self, obs):
        if not (isinstance(obs, Values) and is_class_labels(obs)) or obs.dtype in _ACCEPTED:
            return ()
        message = (
            f"{obs.place.text} holds {obs.dtype} class labels; cross_entropy and nll_loss need int64 "
            "(long) and fail with 'expected target dtype to be Long'"
        )
        hint = _FIXES[obs.place.source].format(e=obs.place.expr)
        return [data_event(self, obs, "warning", message, hint, classes=obs.num_classes)]


def is_class_labels(obs: Values) -> bool:
    """Whether `obs` holds class indices: a label column, one per sample, with a class count."""
    return obs.is_label and obs.num_classes is not None and obs.scalar and obs.values.size > 0
