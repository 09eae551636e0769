"""check_data and check_dataframe: clean data is quiet, the writer records and contains, the detectors decide."""

import importlib
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from data_helpers import Items, check, clean_frame
from tb_lossdiag import DiagWriter, check_dataframe, read_logdir


def test_import_does_not_import_pandas(monkeypatch):
    """pandas stays optional: only a DataFrame given to a check needs it."""
    # A fresh import in this process (a subprocess would re-import torch: seconds); monkeypatch
    # puts the modules back afterwards.
    for module in list(sys.modules):
        if module.split(".")[0] in ("pandas", "tb_lossdiag"):
            monkeypatch.delitem(sys.modules, module)
    importlib.import_module("tb_lossdiag")
    assert "pandas" not in sys.modules


def test_clean_data_gives_nothing():
    """A normalized, complete DataFrame, a clean TensorDataset, batch and tensor raise no event."""
    torch.manual_seed(0)
    x, y = torch.randn(200, 5), torch.randint(0, 4, (200,))
    assert check_dataframe(clean_frame()) == []
    assert check(TensorDataset(x, y), num_classes=4) == []
    assert check((x, y), num_classes=4) == []
    assert check({"image": torch.rand(16, 3, 8, 8), "label": y[:16]}, num_classes=4) == []
    assert check(x.numpy()) == []


def test_writer_records_data_events_end_to_end(logdir):
    """check_data(df) writes its events: read back as category 'data' at step -1."""
    df = clean_frame()
    df.loc[:4, "height"] = np.nan
    with DiagWriter(logdir) as writer:
        returned = writer.check_data(df)
    (run,) = read_logdir(logdir)
    assert [(e.kind, e.tag, e.category, e.step) for e in run.events] == [
        ("missing_values", "data/height", "data", -1)
    ]
    assert run.events[0].message.startswith("train: column 'height' has 5 missing values")
    assert [e.message for e in returned] == [e.message for e in run.events]


def test_writer_rejects_wrong_arguments_and_survives_a_failing_dataset(logdir):
    """A string or an unknown option raises TypeError; a Dataset that breaks becomes diagnostic_failure."""
    with DiagWriter(logdir) as writer:
        with pytest.raises(TypeError, match="DataFrame"):
            writer.check_data("train.csv")
        with pytest.raises(TypeError, match="num_classes"):
            writer.check_data(torch.zeros(3), classes=3)

        def broken(i):
            raise RuntimeError("disk gone")

        with pytest.warns(RuntimeWarning, match="disk gone"):
            events = writer.check_data(Items(10, broken), name="val")
    assert [(e.kind, e.tag) for e in events] == [("diagnostic_failure", "data check of 'val'")]



def _with_ages():
    df = clean_frame()
    df["age"] = np.random.default_rng(1).integers(18, 91, len(df))
    return df


def test_disable_and_tune_reach_the_data_detectors(logdir):
    """DiagWriter(disable=...) silences a data detector; tune=... sets its threshold."""
    df = _with_ages()
    with DiagWriter(logdir) as writer:
        assert [e.kind for e in writer.check_data(df)] == ["unnormalized_input"]
    with DiagWriter(logdir, disable=["unnormalized_input"]) as writer:
        assert writer.check_data(df) == []
    with DiagWriter(logdir, tune={"unnormalized_input": {"max_scale": 100.0}}) as writer:
        assert writer.check_data(df) == []
    df.loc[7, "height"] = df["height"].median() + 7 * 1.4826 * (df["height"] - df["height"].median()).abs().median()
    with DiagWriter(logdir, tune={"outlier_values": {"outlier_z": 5.0}}, disable=["unnormalized_input"]) as writer:
        (event,) = writer.check_data(df)
    assert (event.kind, event.tag) == ("outlier_values", "data/height") and "more than 5 robust" in event.message
    assert check_dataframe(df, disable=["unnormalized_input"]) == []


def test_a_threshold_given_to_check_data_names_tune(logdir):
    """Thresholds belong to the detectors: check_data(outlier_z=...) says where to set it."""
    with DiagWriter(logdir) as writer:
        with pytest.raises(TypeError, match=r"tune=\{'outlier_values': \{'outlier_z'"):
            writer.check_data(clean_frame(), outlier_z=5.0)


def test_outliers_are_reported_once_not_also_as_scale():
    """5% of values at 1e4 make the 99th percentile large: reported as outliers, the scale judged
    without them; with outlier_values disabled the scale sees them."""
    df = clean_frame(400)
    df.loc[:19, "weight"] = 1e4
    assert [(e.kind, e.tag) for e in check_dataframe(df)] == [("outlier_values", "data/weight")]
    events = check_dataframe(df, disable=["outlier_values"])
    assert [(e.kind, e.tag) for e in events] == [("unnormalized_input", "data/weight")]
