"""outlier_values: values of a column far from all the others (a 1e6 among standard-normal values)."""

import dataclasses

import numpy as np

from tb_lossdiag.detectors._data import EXAMPLES, DataDetector, Values, data_event


class OutlierValues(DataDetector):
    """Fires on the values of an input column more than `outlier_z` robust standard deviations
    (1.4826 x the median absolute deviation) from its median. Its evidence `low`/`high` bound the
    values the data check then judges the column's scale by, so outliers are reported once."""

    id = "outlier_values"

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        outlier_z: float = 10.0  # robust standard deviations from the median that make an outlier

    def on_data(self, obs):
        if not isinstance(obs, Values) or obs.is_label or not obs.column or not obs.values.size:
            return ()
        values, z = obs.values, self.thresholds.outlier_z
        median = float(np.median(values))
        distance = np.abs(values - median)
        spread = 1.4826 * float(np.median(distance))  # the std of normal data, unmoved by outliers
        if spread == 0:
            return ()  # mostly one value (a flag, sparse counts): the rare others are the signal
        far = distance > z * spread
        count = int(far.sum())
        if not count:
            return ()
        worst = values[far][np.argsort(-distance[far])][:EXAMPLES]
        low, high = median - z * spread, median + z * spread
        place = obs.place
        message = (
            f"{place.text} has {count} outlier values ({count / values.size:.1%}) among {values.size}, more "
            f"than {z:g} robust standard deviations from its median {median:.4g}: "
            + ", ".join(f"{v:.4g}" for v in worst)
        )
        hint = (
            f"drop or clip them: {place.expr} = {place.expr}.clip({low:.4g}, {high:.4g}), or log-transform "
            "a heavy-tailed column"
        )
        return [data_event(
            self, obs, "warning", message, hint,
            count=count, values=values.size, median=median, low=low, high=high, worst=worst[0],
        )]
