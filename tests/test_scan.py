"""scan: loss curves written by any writer are diagnosed after the fact, without touching them."""

import json
import os

import pytest
from torch.utils.tensorboard import SummaryWriter

from curve_helpers import curve, random_curve

from tb_lossdiag import DiagWriter, read_logdir
from tb_lossdiag.cli import main
from tb_lossdiag.scan import scan_logdir

NAN = float("nan")


def _plain_run(path, values, tag="loss/train"):
    with SummaryWriter(path) as writer:
        for step, value in enumerate(values):
            writer.add_scalar(tag, value, step)
            writer.add_scalar("accuracy", NAN, step)  # not a loss: never diagnosed


def _tf2_run(path, values):
    """A run written the TF2/Keras way: scalar tensors, metadata on the first value only."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.scalar import metadata as scalar_metadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    writer = EventFileWriter(path)
    for step, value in enumerate(values):
        summary_value = summary_pb2.Summary.Value(tag="epoch_loss", tensor=tensor_util.make_tensor_proto(value))
        if step == 0:
            summary_value.metadata.CopyFrom(scalar_metadata.create_summary_metadata(display_name="", description=""))
        writer.add_event(event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[summary_value])))
    writer.close()


def test_scan_diagnoses_a_plain_summarywriter_run(logdir):
    """A NaN in a SummaryWriter run's loss is found by scan at its step; other tags are ignored."""
    _plain_run(os.path.join(logdir, "plain"), [1.0, 0.9, NAN, NAN])
    (run,) = scan_logdir(logdir)
    assert [(e.step, e.kind, e.tag) for e in run.events] == [(2, "nonfinite_loss", "loss/train")]
    assert run.events[0].wall_time > 0


def test_scan_reads_tf2_scalar_tensors(logdir):
    """Keras/TF2-style scalar tensors (metadata only on the first value) are scanned too."""
    _tf2_run(os.path.join(logdir, "keras"), [1.0, 0.8, float("inf")])
    (run,) = scan_logdir(logdir)
    assert [(e.step, e.kind) for e in run.events] == [(2, "nonfinite_loss")]


def test_write_puts_findings_beside_the_run_and_replaces_earlier_scans(logdir):
    """--write adds one new event file (the user's files are untouched); a rescan replaces it."""
    run_dir = os.path.join(logdir, "plain")
    _plain_run(run_dir, [1.0, NAN])
    (original,) = os.listdir(run_dir)
    before = open(os.path.join(run_dir, original), "rb").read()
    scan_logdir(logdir, write=True)
    scan_logdir(logdir, write=True)
    files = sorted(os.listdir(run_dir))
    assert len(files) == 2 and open(os.path.join(run_dir, original), "rb").read() == before
    (run,) = read_logdir(logdir)
    assert [(e.step, e.kind) for e in run.events] == [(1, "nonfinite_loss")]


def test_diagwriter_runs_are_left_as_written(logdir):
    """A run a DiagWriter diagnosed while training is reported as is, not scanned twice."""
    with DiagWriter(os.path.join(logdir, "diag")) as writer:
        for step, value in enumerate([1.0, NAN]):
            writer.add_scalar("loss", value, step)
    (run,) = scan_logdir(logdir)
    assert [e.kind for e in run.events] == ["nonfinite_loss"]
    assert "diagnosed while training" in run.notices[0]


def test_scan_command_prints_json_and_fails_on_errors(logdir, capsys):
    """`tb-lossdiag scan LOGDIR --format json --fail-on error` prints the report shape and exits 1."""
    _plain_run(os.path.join(logdir, "plain"), [1.0, NAN])
    assert main(["scan", logdir, "--format", "json", "--fail-on", "error"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["runs"][0]["run"] == "plain"
    assert payload["runs"][0]["events"][0]["kind"] == "nonfinite_loss"


def test_scan_finds_overfitting_in_a_plain_run(logdir):
    """Validation loss rising while training loss falls, written by SummaryWriter, is overfitting."""
    with SummaryWriter(os.path.join(logdir, "plain")) as writer:
        for step in range(300):
            writer.add_scalar("loss/train", 1.0 / (1 + 0.05 * step), step)
            if step % 10 == 9:
                val = 1.0 / (1 + 0.05 * step) if step < 100 else 0.17 * (1 + 0.04 * (step - 100) / 10)
                writer.add_scalar("loss/val", val, step)
    (run,) = scan_logdir(logdir)
    assert [(e.kind, e.tag) for e in run.events if e.severity != "info"][:1] == [("overfitting", "loss/val")]


def test_scan_reads_the_loss_tags_a_diagwriter_recorded(logdir):
    """--force on a run whose records name "objective" as its loss scans that curve, not the tags
    containing "loss" (which it did not diagnose)."""
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.compat.proto import event_pb2

    from tb_lossdiag import metadata
    from tb_lossdiag.summary import events_summary

    run_dir = os.path.join(logdir, "custom")
    writer = EventFileWriter(run_dir)
    writer.add_event(event_pb2.Event(step=0, summary=events_summary(metadata.TAG_PREFIX + "w", [], ["objective"])))
    writer.close()
    with SummaryWriter(run_dir) as plain:
        for step, value in enumerate([1.0, 0.9, NAN]):
            plain.add_scalar("objective", value, step)
            plain.add_scalar("loss_scale", NAN, step)  # contains "loss", but not a loss of this run
    (run,) = scan_logdir(logdir, force=True)
    assert run.loss_tags == ["objective"]
    assert [(e.step, e.kind, e.tag) for e in run.events] == [(2, "nonfinite_loss", "objective")]


def test_scan_finds_what_diagnosis_while_training_finds():
    """A curve on disk gets the events the detectors give it value by value (what DiagWriter does):
    a spike, a plateau and a divergence on a training curve beside a validation curve."""
    import math
    import random

    from tb_lossdiag.detectors import LossPoint
    from tb_lossdiag.diagnoser import Diagnoser
    from tb_lossdiag.scan import scan_run

    rng = random.Random(0)
    train = [(2.3 if s < 400 else 0.3 * (1 + max(0, s - 1500) / 100) + 2.0 * math.exp(-(s - 400) / 150))
             * math.exp(0.05 * rng.gauss(0, 1)) for s in range(2500)]
    train[900] *= 40
    curves = {"loss/train": [(s, v, 100.0 + s) for s, v in enumerate(train)],
              "loss/val": [(s, 1.0 + s / 2000, 100.0 + s) for s in range(49, 2500, 50)]}
    live = Diagnoser()
    points = sorted((s, tag, v) for tag, curve in curves.items() for s, v, _ in curve)
    found = [e for s, tag, v in points for e in live.loss(LossPoint(tag, s, v, tag.endswith("val")))]
    found += live.flush()
    scanned = scan_run(curves)
    assert {"loss_spike", "loss_plateau", "loss_divergence"} <= {e.kind for e in scanned}
    assert sorted((e.step, e.kind, e.message) for e in scanned) == sorted((e.step, e.kind, e.message) for e in found)


def _replay_cases():
    """Curves whose replay takes the bulk path long enough to matter, each with what it must find."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = 6000
    t = np.arange(n)
    decay = (0.2 + 2.1 * np.exp(-t / 600)) * np.exp(0.2 * rng.standard_normal(n))
    clean = 0.3 + 2 * np.exp(-t / 300)
    return {
        "noisy and long": ({"loss/train": curve(decay)}, set()),
        "plateauing": ({"loss/train": curve(2.3 * np.exp(0.05 * rng.standard_normal(n)))}, {"loss_plateau"}),
        "diverging": ({"loss/train": curve(clean * (1 + np.maximum(0, t - 3000) / 300)
                                            * np.exp(0.1 * rng.standard_normal(n)))}, {"loss_divergence"}),
        "oscillating": ({"loss/train": curve(clean * np.where((t > 2500) & ((t // 3) % 2 == 1), 2.5, 1.0))},
                        {"loss_oscillation"}),
        "spiking": ({"loss/train": curve(np.where(t % 700 == 350, 40.0, 1.0) * clean)}, {"loss_spike"}),
        "exactly constant": ({"loss/train": curve(np.r_[2.3 * np.exp(0.01 * rng.standard_normal(600)),
                                                          np.full(n - 600, 2.3)])}, {"loss_plateau"}),
        "with NaNs": ({"loss/train": curve(np.where((t % 997 == 5) | ((t > 4000) & (t < 4100)), np.nan, decay))},
                      {"nonfinite_loss"}),
        "negative": ({"loss/train": curve(-1 + 0.5 * np.exp(-t / 500) + 0.05 * rng.standard_normal(n))},
                     {"negative_loss"}),
        "several tags and a validation curve": (
            {"loss/train": curve(decay), "loss/aux": curve(clean * np.exp(0.1 * rng.standard_normal(n))),
             "loss/val": curve(0.5 + np.maximum(0, t[::50] - 2000) / 3000, every=50, first=49)},
            {"overfitting"}),
    }


@pytest.mark.parametrize("case", list(_replay_cases()))
def test_a_replayed_curve_gets_the_events_of_diagnosis_value_by_value(case):
    """scan's replay (most values taken in bulk) finds exactly what the detectors find value by value,
    to the message and the evidence, on curves that are noisy, long, plateauing, diverging, oscillating,
    spiking, constant, with NaNs, negative, and several tags beside a validation curve."""
    from tb_lossdiag.detectors import LossPoint
    from tb_lossdiag.diagnoser import Diagnoser
    from tb_lossdiag.scan import scan_run

    curves, expected = _replay_cases()[case]
    live = Diagnoser()
    points = sorted((step, tag, value) for tag, curve in curves.items() for step, value, _ in curve)
    found = [e for step, tag, value in points for e in live.loss(LossPoint(tag, step, value, tag.endswith("val")))]
    found += live.flush()
    scanned = scan_run(curves)

    def described(events):
        return sorted((e.step, e.kind, e.severity, e.tag, e.message, repr(sorted(e.evidence.items()))) for e in events)

    assert described(scanned) == described(found)
    assert expected <= {e.kind for e in scanned if e.severity != "info" or e.kind == "loss_plateau"}


@pytest.mark.parametrize("seed", range(12))
def test_a_random_curve_gets_the_events_of_diagnosis_value_by_value(seed):
    """The same for curves of random stretches, spikes and NaNs (the bulk path must do each rule's
    bookkeeping exactly, or a later event moves)."""
    from tb_lossdiag.detectors import LossPoint
    from tb_lossdiag.diagnoser import Diagnoser
    from tb_lossdiag.scan import scan_run

    curves = random_curve(seed)
    live = Diagnoser()
    found = [e for step, value, _ in curves["loss/train"] for e in live.loss(LossPoint("loss/train", step, value))]
    found += live.flush()

    def described(events):
        return sorted((e.step, e.kind, e.severity, e.tag, e.message, repr(sorted(e.evidence.items()))) for e in events)

    assert described(scan_run(curves)) == described(found)
