"""reader: events come back from any log directory; damaged files give notices, not tracebacks."""

import os

import pytest
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.compat.proto import event_pb2 as tf_event_pb2

from tb_lossdiag import DiagWriter, metadata, read_logdir
from tb_lossdiag.events import Event
from tb_lossdiag.reader import find_runs
from tb_lossdiag.summary import events_summary

NAN = float("nan")


def _write_nan_run(path, steps=(3,)):
    with DiagWriter(path) as writer:
        for step in range(10):
            writer.add_scalar("loss", NAN if step in steps else 1.0, step)


def _event_file(run_dir):
    (name,) = [f for f in os.listdir(run_dir) if "tfevents" in f]
    return os.path.join(run_dir, name)


def test_runs_are_named_relative_to_the_logdir(tmp_path):
    """Nested runs are found and named by their path below the log directory."""
    _write_nan_run(str(tmp_path / "a"))
    _write_nan_run(str(tmp_path / "b" / "c"))
    runs = read_logdir(str(tmp_path))
    assert [r.run for r in runs] == ["a", os.path.join("b", "c")]
    assert [len(r.events) for r in runs] == [1, 1]


def test_truncated_file_keeps_what_came_before(tmp_path):
    """A file cut mid-record (a crashed writer) yields the earlier events and a notice."""
    run = str(tmp_path / "run")
    _write_nan_run(run, steps=(3, 4, 5, 7))  # onsets at 3 and 7
    path = _event_file(run)
    data = open(path, "rb").read()
    last_record = data.rindex(metadata.TAG_PREFIX.encode())
    open(path, "wb").write(data[: last_record + 20])  # cut inside the step-7 record
    (result,) = read_logdir(str(tmp_path))
    assert [e.step for e in result.events] == [3]
    assert any("truncated" in n for n in result.notices)


def test_corrupt_bytes_give_a_notice(tmp_path):
    """Garbage in an event file is reported as corrupt, not raised."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.out.tfevents.1.host").write_bytes(b"\xff" * 64)
    (result,) = read_logdir(str(tmp_path))
    assert result.events == [] and "corrupt" in result.notices[0]


def test_newer_schema_is_read_with_a_notice(tmp_path):
    """Records from a newer tb_lossdiag are read, with a notice to upgrade."""
    run = str(tmp_path / "run")
    writer = EventFileWriter(run)
    summary = events_summary("_lossdiag/x", [Event(5, "future_kind", "info", "loss", "m", "h")])
    summary.value[0].tensor.string_val[0] = summary.value[0].tensor.string_val[0] + b"\x08\x63"  # schema 99
    writer.add_event(tf_event_pb2.Event(step=0, summary=summary))
    writer.close()
    (result,) = read_logdir(str(tmp_path))
    assert [e.kind for e in result.events] == ["future_kind"]
    assert "newer tb_lossdiag" in result.notices[0]


def test_missing_logdir_is_a_clear_error(tmp_path):
    """A log directory that does not exist is named in the error."""
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_runs(str(tmp_path / "nope"))


def test_plain_summarywriter_runs_have_no_events(tmp_path):
    """A run written without DiagWriter is listed, with no events and no notices."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "plain")) as writer:
        writer.add_scalar("loss", NAN, 0)
    (result,) = read_logdir(str(tmp_path))
    assert (result.run, result.events, result.notices) == ("plain", [], [])


def test_record_tags_use_the_metadata_prefix(tmp_path):
    """Records live under the plugin's tag prefix, one tag per writer session."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    run = str(tmp_path / "run")
    _write_nan_run(run)
    tags = {
        v.tag
        for e in EventFileLoader(_event_file(run)).Load()
        for v in e.summary.value
        if v.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME
    }
    assert len(tags) == 1 and tags.pop().startswith(metadata.TAG_PREFIX)
