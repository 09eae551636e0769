"""label_range: class labels outside [0, num_classes), which cross-entropy fails on."""

from tb_lossdiag.detectors._data import DataDetector, Values, data_event
from tb_lossdiag.detectors.label_dtype import is_class_labels

IGNORE_INDEX = -100  # CrossEntropyLoss's default ignore_index is a legal label


class LabelRange(DataDetector):
    """Fires on a label column of class indices with a label below 0 or at least num_classes."""

    id = "label_range"

    def on_data(self, obs):
        if not (isinstance(obs, Values) and is_class_labels(obs)):
            return ()
        values, classes = obs.values, obs.num_classes
        outside = ((values < 0) | (values >= classes)) & (values != IGNORE_INDEX)
        count = int(outside.sum())
        if not count:
            return ()
        low, high = float(values.min()), float(values.max())
        message = (
            f"{obs.place.text} has {count} of {values.size} labels outside [0, {classes}) (min {low:g}, "
            f"max {high:g}): cross-entropy fails with 'Target out of bounds' (a device-side assert on GPU)"
        )
        if low >= 1 and high == classes:
            hint = f"the labels look 1-based: {obs.place.expr} - 1"
        else:
            hint = (
                f"map the labels to 0..{classes - 1} (e.g. sklearn's LabelEncoder), or give the model "
                "one output per class"
            )
        return [data_event(
            self, obs, "error", message, hint, count=count, values=values.size, min=low, max=high, classes=classes
        )]
