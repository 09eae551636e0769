"""diagnose() end to end: real training loops (zoo scripts) with DiagWriter + watch(), read back with read_logdir."""

import pathlib
import sys

import pytest
import torch

from tb_lossdiag import read_logdir
from tb_lossdiag.diagnosis import diagnose

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed

from benchmarks.zoo import (  # noqa: E402
    healthy_adam_cross_entropy, lr_too_high_sgd, missing_zero_grad, nan_in_csv_column,
    nll_on_softmax_sequential,
)


def diagnoses_of(script, logdir):
    torch.set_num_threads(1)
    script.run(logdir)
    return diagnose([event for run in read_logdir(logdir) for event in run.events])


def test_nan_in_data_is_rooted_at_the_input_column_and_step(logdir):
    (diagnosis,) = diagnoses_of(nan_in_csv_column, logdir)
    assert diagnosis.root.kind == "nonfinite_input" and diagnosis.root.step == nan_in_csv_column.ONSET
    assert diagnosis.confidence == "certain"
    assert {e.kind for e in diagnosis.consequences} >= {"nonfinite_loss"}
    assert diagnosis.summary.startswith("NaN/Inf in the input data (argument `input`, column 2, ")
    assert f"-> `loss/train` NaN at step {nan_in_csv_column.ONSET}" in diagnosis.summary


def test_nll_on_softmax_explains_the_negative_loss(logdir):
    (diagnosis,) = diagnoses_of(nll_on_softmax_sequential, logdir)
    assert diagnosis.root.kind == "nll_on_probabilities" and diagnosis.confidence == "certain"
    assert "negative_loss" in {e.kind for e in diagnosis.consequences}
    assert "LogSoftmax" in diagnosis.fix


def test_lr_too_high_explains_the_explosion_and_the_inf(logdir):
    first = diagnoses_of(lr_too_high_sgd, logdir)[0]
    assert first.root.kind == "loss_divergence" and first.confidence == "likely"
    assert {"exploding_gradient", "nonfinite_loss"} <= {e.kind for e in first.consequences}
    assert "lower it" in first.fix


def test_missing_zero_grad_is_the_root(logdir):
    first = diagnoses_of(missing_zero_grad, logdir)[0]
    assert first.root.kind == "missing_zero_grad" and first.confidence == "certain"


def test_healthy_run_has_no_diagnosis(logdir):
    assert diagnoses_of(healthy_adam_cross_entropy, logdir) == []


@pytest.mark.parametrize("script", [nan_in_csv_column])
def test_writer_events_and_read_back_events_give_the_same_diagnosis(script, logdir, monkeypatch):
    """What the writer holds and what read_logdir reads back diagnose alike."""
    from tb_lossdiag import DiagWriter

    held = []
    close = DiagWriter.close

    def keep(self):
        close(self)
        held.extend(self.events)

    monkeypatch.setattr(DiagWriter, "close", keep)
    read_back = diagnoses_of(script, logdir)
    assert [d.summary for d in diagnose(held)] == [d.summary for d in read_back]
