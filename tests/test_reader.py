"""reader: events come back from any log directory; damaged files give notices, not tracebacks."""

import os
import struct

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2 as tf_event_pb2
from tensorboard.compat.proto import summary_pb2 as tf_summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from tb_lossdiag import DiagWriter, eventfile, metadata, read_logdir
from tb_lossdiag.events import Event
from tb_lossdiag.plugin import records
from tb_lossdiag.proto import event_pb2
from tb_lossdiag.reader import find_runs, job_of
from tb_lossdiag.summary import events_summary
from tests.plugin.harness import shard, write_sharded_job

NAN = float("nan")


def _write_nan_run(path, steps=(3,), n=10):
    with DiagWriter(path) as writer:
        for step in range(n):
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


def _write_records(run_dir, batches, scalars=()):
    """A run whose lossdiag records hold `batches` (EventBatch bytes, one record each), then `scalars`
    ((tag, step, value)) as SummaryWriter writes them."""
    writer = EventFileWriter(run_dir)
    for step, blob in enumerate(batches):
        record = events_summary(metadata.TAG_PREFIX + "w", [])
        record.value[0].tensor.string_val[0] = blob
        writer.add_event(tf_event_pb2.Event(step=step, wall_time=1.7e9, summary=record))
    for tag, step, value in scalars:
        summary = tf_summary_pb2.Summary(value=[tf_summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        writer.add_event(tf_event_pb2.Event(step=step, wall_time=1.7e9 + step, summary=summary))
    writer.close()
    return _event_file(run_dir)


def _batch(events, loss_tags=()):
    return events_summary("t", events, loss_tags).value[0].tensor.string_val[0]


def _not_utf8_batch():
    """A record whose event text holds an invalid UTF-8 byte: protobuf rejects it as a string."""
    proto = Event(4, "loss_spike", "warning", "loss", "spike MARK here", "h").to_proto().SerializeToString()
    batch = event_pb2.EventBatch(schema_version=metadata.SCHEMA_VERSION).SerializeToString()
    return batch + b"\x12" + bytes([len(proto)]) + proto.replace(b"MARK", b"\xff\xfe\xff\xfe")


def test_a_record_the_tab_shows_is_reported_by_the_cli_too(tmp_path):
    """One parser: a record with invalid UTF-8 (shown by the tab) is read by read_logdir with the same notice."""
    _write_records(str(tmp_path / "run"), [_not_utf8_batch()])
    (run,) = read_logdir(str(tmp_path))
    tab = records.read_record(np.array([_not_utf8_batch()], dtype=object))
    assert [(e.step, e.kind, e.message) for e in run.events] == [(4, "loss_spike", "spike " + "\ufffd" * 4 + " here")]
    assert run.events == tab.events
    assert run.notices == [metadata.NOT_UTF8] and tab.notices == (metadata.NOT_UTF8,)


def test_loss_tags_recorded_by_the_writer_are_read(tmp_path):
    """The loss tags of every record are unioned, in the order first written, for the CLI and the tab."""
    blobs = [_batch([], ["objective"]), _batch([], ["objective", "val/objective"])]
    _write_records(str(tmp_path / "run"), blobs)
    (run,) = read_logdir(str(tmp_path))
    assert run.loss_tags == ["objective", "val/objective"]
    assert records.read_record(np.array(blobs[1:], dtype=object)).loss_tags == ("objective", "val/objective")
    assert metadata.parse_record([_batch([])]).loss_tags == ()  # records of older writers: none


def test_unreadable_records_are_one_counted_notice(tmp_path):
    """300 records of garbage under the lossdiag tag: one notice saying how many, the good record kept."""
    _write_records(str(tmp_path / "run"), [b"\xff\xff\xff\xff"] * 300 + [_batch([Event(7, "k", "error", "loss", "m", "h")])])
    (run,) = read_logdir(str(tmp_path))
    assert [e.step for e in run.events] == [7]
    assert run.notices == [f"{metadata.UNREADABLE} (300 records)"]


def _nan_events_and_curve(tmp_path, name):
    (run,) = read_logdir(str(tmp_path / name), loss_tags="loss")
    return [(e.step, e.kind) for e in run.events], repr(run.curves), run.notices  # repr: NaN == NaN


def test_chunked_reading_and_the_fallback_checksum_give_the_same_results(tmp_path, monkeypatch):
    """Records cut across read chunks, and checksums without the C library (numpy over the 40 loss
    records, a byte loop for the rest), change nothing read."""
    run = str(tmp_path / "run" / "r")
    _write_nan_run(run, steps=(3, 4, 7), n=40)
    expected = _nan_events_and_curve(tmp_path, "run")
    assert [s for s, kind in expected[0] if kind == "nonfinite_loss"] == [3, 7] and expected[1].count("nan") == 3 and expected[1].count("(") == 40
    monkeypatch.setattr(eventfile, "_c_crc32c", None)
    assert _nan_events_and_curve(tmp_path, "run") == expected
    monkeypatch.setattr(eventfile, "CHUNK", 7)  # smaller than a record header
    assert _nan_events_and_curve(tmp_path, "run") == expected


def test_a_damaged_record_is_skipped_and_the_rest_read(tmp_path):
    """A lossdiag record whose data fails its checksum is skipped with a notice; later ones are read."""
    path = _write_records(str(tmp_path / "run"), [_batch([Event(s, "k", "error", "loss", "m", "h")]) for s in (1, 2)])
    data = bytearray(open(path, "rb").read())
    first = data.index(metadata.TAG_PREFIX.encode())
    data[first + 40] ^= 0x01  # inside the first record's data
    open(path, "wb").write(bytes(data))
    (run,) = read_logdir(str(tmp_path))
    assert [e.step for e in run.events] == [2]
    assert len(run.notices) == 1 and "checksum mismatch" in run.notices[0]


def test_a_damaged_length_names_its_record_and_keeps_what_came_before(tmp_path):
    """A flipped bit in a record's length: the records before it are read, the notice names its offset."""
    path = _write_records(str(tmp_path / "run"), [_batch([Event(s, "k", "error", "loss", "m", "h")]) for s in (1, 2)])
    data = bytearray(open(path, "rb").read())
    second = data.rindex(metadata.TAG_PREFIX.encode())
    start = next(s for s in range(second - 40, second) if struct.unpack_from("<Q", data, s)[0] + s + 16 == len(data))
    data[start + 1] ^= 0x40
    open(path, "wb").write(bytes(data))
    (run,) = read_logdir(str(tmp_path))
    assert [e.step for e in run.events] == [1]
    assert run.notices == [f"{os.path.basename(path)}: corrupt record at byte {start}; the rest of the file was skipped"]


def test_progress_is_told_every_byte(tmp_path):
    """read_logdir tells its progress callback (bytes read, bytes in all), ending at the total."""
    _write_nan_run(str(tmp_path / "a"))
    _write_nan_run(str(tmp_path / "b"))
    seen = []
    read_logdir(str(tmp_path), progress=lambda done, total: seen.append((done, total)))
    total = sum(os.path.getsize(_event_file(str(tmp_path / r))) for r in "ab")
    assert seen[-1] == (total, total)


def test_curves_are_exactly_what_tensorboard_reads(tmp_path):
    """Every step form (absent 0, one to ten varint bytes, negative), tag length and value (NaN,
    Inf, tiny) of a SummaryWriter scalar reads as TensorBoard's own loader reads it."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from torch.utils.tensorboard import SummaryWriter

    steps = [0, 1, 127, 128, 2**14, 2**21 + 5, 2**35, 2**62, -1, -300]
    tags = ["loss", "loss/" + "x" * 120, "val/loss"]  # the long one needs two-byte lengths: parsed in full
    values = [1.5, float("nan"), float("inf"), -float("inf"), 1e-38, 3.0, 0.0, -2.5, 7e30, 0.1]
    run = str(tmp_path / "run")
    with SummaryWriter(run) as writer:
        for i, step in enumerate(steps):
            for tag in tags:
                writer.add_scalar(tag, values[i], step, walltime=1.7e9 + i / 3)
    expected = {}
    for data in RawEventFileLoader(_event_file(run)).Load():
        event = tf_event_pb2.Event.FromString(data)
        for value in event.summary.value:
            expected.setdefault(value.tag, []).append((event.step, value.simple_value, event.wall_time))
    (result,) = read_logdir(str(tmp_path), loss_tags="loss")
    assert repr(result.curves) == repr(expected)
    assert [step for step, _, _ in result.curves["loss"]] == steps


def test_a_sharded_jobs_ranks_are_combined_into_its_global_norms(tmp_path):
    """Each rank's shard record sums, as squares, into the job's norms on its first run; a step
    some rank lacks gets no value; a job's rank runs and other jobs keep their own."""
    write_sharded_job(str(tmp_path), {
        ".": {0: shard(3.0, 2.0, 0.3, 2.0), 10: shard(1.0), 20: shard(NAN)},
        "rank1": {0: shard(4.0, 0.0, 0.4, 0.0), 20: shard(1.0)},
        "other": {0: shard(5.0, ranks=1)},
        "ddp": {},
    })
    runs = {run.run: run for run in read_logdir(str(tmp_path))}
    job = runs["."].combined
    assert job["diag/job/grad_norm"][0] == (0, 5.0)
    assert [step for step, _ in job["diag/job/grad_norm"]] == [0, 20]  # rank 1 did not record step 10
    assert np.isnan(job["diag/job/grad_norm"][1][1])  # one rank's NaN is the job's
    assert job["diag/job/weight_norm"][0] == (0, 2.0)
    assert job["diag/job/update_ratio"] == [(0, pytest.approx(0.25))]  # 0.5 / 2; no update at step 20
    assert runs["rank1"].combined == {} and dict(runs["rank1"].shards["grad_norm"])[0] == 4.0
    assert runs["other"].combined["diag/job/grad_norm"] == [(0, 5.0)]
    assert runs["ddp"].combined == {} and runs["ddp"].shards == {}


@pytest.mark.parametrize("run, job", [(".", "."), ("rank3", "."), ("exp/rank12", "exp"), ("exp", "exp"),
                                      ("exp/ranking", "exp/ranking"), ("a/rank1/b", "a/rank1/b")])
def test_a_job_is_the_run_and_its_rank_runs(run, job):
    """rank_log_dir's layout: rank N > 0 of job `x` writes x/rankN."""
    assert job_of(run) == job
