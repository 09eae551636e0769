"""Every byte of a log directory is hostile: broken files and records never break an answer, and no
route parameter reads outside the data TensorBoard loaded."""

import glob
import json
import math
import os
import random
import time

import numpy as np
import pytest

from tensorboard.compat.proto import event_pb2 as tf_event_pb2
from tensorboard.compat.proto import summary_pb2

from tb_lossdiag.plugin import records
from tb_lossdiag.proto import event_pb2

from .conftest import make_client, route
from .harness import batch_bytes, event, serve, tf_record, write_events, write_records

BAD_UTF8 = b"\xff\xfe\xc3("  # four bytes that are not UTF-8 (a lone continuation, a cut sequence)
MB = 1_000_000


def proto(**fields) -> bytes:
    """One serialized schema Event with readable defaults."""
    defaults = dict(step=3, kind="spike", severity=event_pb2.WARNING, tag="loss", message="m", hint="h", wall_time=1.7e9)
    return event_pb2.Event(**{**defaults, **fields}).SerializeToString()


def cut_file(run_dir: str, keep) -> None:
    """Rewrites the run's one event file as keep(its bytes)."""
    (path,) = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(keep(bytearray(data)))


def flip_middle_byte(data: bytearray) -> bytes:
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


def write_hostile_logdir(logdir: str) -> None:
    """One run per way a log directory can be broken, and one good run beside them."""
    write_events(logdir, "good", [[event(1, severity="error")]], losses={"loss": [1.0, 0.5]})
    write_events(logdir, "truncated", [[event(s)] for s in range(20)], losses={"loss": [1.0] * 5})
    cut_file(os.path.join(logdir, "truncated"), lambda data: bytes(data[:-37]))  # mid-record
    write_events(logdir, "corrupt", [[event(s)] for s in range(20)], losses={"loss": [1.0] * 5})
    cut_file(os.path.join(logdir, "corrupt"), flip_middle_byte)
    os.makedirs(os.path.join(logdir, "garbage_file"))
    with open(os.path.join(logdir, "garbage_file", "events.out.tfevents.1.x"), "wb") as f:
        f.write(random.Random(0).randbytes(4096))
    os.makedirs(os.path.join(logdir, "empty_file"))
    open(os.path.join(logdir, "empty_file", "events.out.tfevents.1.y"), "wb").close()
    # A newer writer: schema 99, and fields this reader has never heard of (30: varint, 31: text).
    write_records(logdir, "future", [batch_bytes([proto() + b"\xf0\x01\x07" + b"\xfa\x01\x03new"], schema_version=99)])
    write_records(logdir, "unknown", [batch_bytes([proto(kind="quantum_flux", severity=7, category="astrology")])])
    huge = event(2, message="x" * MB, hint="y" * MB, tag="t" * MB, **{f"e{i}": i for i in range(10_000)})
    write_events(logdir, "huge", [[huge]], losses={"loss": [1.0]})
    text = proto(tag="loss/TTTT", message="before MMMM after", evidence={"kKKKK": 1.0})
    text = text.replace(b"TTTT", BAD_UTF8).replace(b"MMMM", BAD_UTF8).replace(b"KKKK", BAD_UTF8)
    write_records(logdir, "not_utf8", [batch_bytes([text])])
    write_records(logdir, "nan_time", [batch_bytes([proto(wall_time=math.nan), proto(wall_time=math.inf)])])
    write_records(logdir, "unreadable", [b"\xff\xff\xff\xff"] * 300 + [batch_bytes([proto(step=7)])])


RUNS = ["good", "truncated", "corrupt", "future", "unknown", "huge", "not_utf8", "nan_time", "unreadable"]


@pytest.fixture(scope="module")
def hostile_logdir(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("hostile") / "runs")
    write_hostile_logdir(logdir)
    return logdir


@pytest.fixture(scope="module")
def client(hostile_logdir):
    return make_client(hostile_logdir)[0]


def get(client, url):
    """The JSON of a 200 answer (with nosniff, as every answer has)."""
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    return json.loads(response.get_data())


def events_of(client, run):
    return get(client, route(f"events?run={run}"))


def test_every_route_answers_for_every_broken_run(client):
    """/runs lists the readable runs; /events and /curves answer 200 with valid JSON for each."""
    listed = {r["run"]: r for r in get(client, route("runs"))["runs"]}
    assert set(RUNS) <= set(listed)
    assert listed["good"]["first_error"]["step"] == 1
    for run in RUNS + ["garbage_file", "empty_file"]:
        events_of(client, run)
        get(client, route(f"curves?run={run}"))


def test_a_truncated_file_gives_the_events_before_the_cut(client):
    """The last record was cut mid-way: the 19 before it are served, in order."""
    steps = [e["step"] for e in events_of(client, "truncated")["events"]]
    assert steps == list(range(19))


def test_a_corrupt_byte_loses_only_what_follows_it(client):
    """A flipped byte mid-file: the records before it are served, the other runs are untouched."""
    steps = [e["step"] for e in events_of(client, "corrupt")["events"]]
    assert steps and steps == list(range(len(steps)))
    assert len(events_of(client, "good")["events"]) == 1


def test_a_newer_schema_with_unknown_fields_is_read_with_a_notice(client):
    """Schema 99 with fields 30 and 31: the known fields are shown, the user is told to upgrade."""
    body = events_of(client, "future")
    assert [(e["step"], e["kind"], e["message"]) for e in body["events"]] == [(3, "spike", "m")]
    assert body["notices"] == ["written by a newer tb_lossdiag (schema 99 > 1); fields it added are not shown: upgrade tb_lossdiag"]


def test_unknown_kinds_severities_and_categories_are_shown_as_warnings(client):
    """A kind this version does not know is shown as it is; severity 7 reads as a warning, said so."""
    body = events_of(client, "unknown")
    (e,) = body["events"]
    assert (e["kind"], e["severity"], e["category"]) == ("quantum_flux", "warning", "astrology")
    assert body["notices"] == [records.UNKNOWN_SEVERITY]


def test_a_megabyte_message_is_cut_with_a_marker(client):
    """1 MB message, hint and tag, 10,000 evidence entries: a bounded, correct answer."""
    response = client.get(route("events?run=huge"))
    assert response.status_code == 200
    # The cut event (two texts of 16,384 characters), and its diagnosis: the event again, the fix
    # (its hint) and the summary that ends with it.
    assert len(response.get_data()) < 120_000
    body = json.loads(response.get_data())
    (e,) = body["events"]
    assert len(e["message"]) == len(e["hint"]) == records.TEXT_LIMIT
    assert e["message"] == "x" * (records.TEXT_LIMIT - len(records.TRUNCATED)) + "…(truncated)"
    assert len(e["tag"]) == records.NAME_LIMIT and e["tag"].endswith(records.TRUNCATED)
    assert len(e["evidence"]) == records.EVIDENCE_LIMIT
    assert body["notices"] == [records.TOO_LONG]
    assert next(r for r in get(client, route("runs"))["runs"] if r["run"] == "huge")["first_event"]["tag"] == e["tag"]


def test_text_that_is_not_utf8_is_shown_readable_with_a_notice(client):
    """The readable part of tag, message and evidence name, U+FFFD for the bad bytes."""
    body = events_of(client, "not_utf8")
    (e,) = body["events"]
    assert e["tag"].startswith("loss/\ufffd") and e["message"].startswith("before \ufffd")
    assert e["message"].endswith(" after")
    assert [k[0] for k in e["evidence"]] == ["k"]
    assert body["notices"] == [records.NOT_UTF8]


def test_an_impossible_wall_time_cannot_break_the_json(client):
    """JSON has no NaN or Infinity: the events are served, in order, with wall_time 0."""
    assert [e["wall_time"] for e in events_of(client, "nan_time")["events"]] == [0.0, 0.0]


def test_many_unreadable_records_are_one_notice(client):
    """300 undecodable records: one notice saying how many; the readable record is served."""
    body = events_of(client, "unreadable")
    assert [e["step"] for e in body["events"]] == [7]
    assert body["notices"] == [f"{records.UNREADABLE} (300 records)"]


@pytest.mark.parametrize(
    "tensor",
    [np.array([1.0, 2.0]), np.array(b"\x12\x05\x08"), np.array([b"", None], dtype=object), np.array([[b"\xff"]])],
    ids=["numbers", "cut_event", "none", "garbage_2d"],
)
def test_read_record_never_raises(tensor):
    """Whatever a record's tensor holds: events or a notice, never an exception."""
    record = records.read_record(tensor)
    assert record.events == [] and record.notices in ((), (records.UNREADABLE,))


def test_read_record_reads_the_readable_events_of_a_mixed_record():
    """A record of two batches, one broken: the good one's events and one notice."""
    record = records.read_record(np.array([batch_bytes([proto(step=4)]), b"\xff"], dtype=object))
    assert [e.step for e in record.events] == [4] and record.notices == (records.UNREADABLE,)


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_a_real_tensorboard_serves_the_hostile_logdir(hostile_logdir, load_fast):
    """Both loaders: the broken files do not stop TensorBoard; every route answers every run."""
    def ready(tb):
        # A run is listed once its first scalars are read, maybe before its records: wait for them.
        listed = {"good", "huge", "unreadable"} <= {r["run"] for r in tb.api("runs")["runs"]}
        return listed and bool(tb.api("events?run=huge")["events"])

    with serve(hostile_logdir, load_fast, ready=ready) as tb:
        for run in RUNS:
            body = tb.api(f"events?run={run}")
            assert isinstance(body["events"], list)
            tb.api(f"curves?run={run}")
        assert len(tb.api("events?run=huge")["events"][0]["message"]) == records.TEXT_LIMIT


def write_bad_scalar_tags(run_dir: str) -> None:
    """Three steps of a scalar tag that is not UTF-8 beside a good "loss" tag."""
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, "events.out.tfevents.1.z"), "wb") as f:
        for step in range(3):
            for tag in ("loss/TTTT", "loss"):
                value = summary_pb2.Summary.Value(tag=tag, simple_value=1.0)
                data = tf_event_pb2.Event(step=step, wall_time=1.7e9, summary=summary_pb2.Summary(value=[value]))
                f.write(tf_record(data.SerializeToString().replace(b"TTTT", BAD_UTF8)))


def test_scalar_tags_that_are_not_utf8_leave_the_other_runs_served(tmp_path):
    """Under the default (Rust) loader the plugin serves every other run and answers for the broken
    one. Not tested with --load_fast=false: TensorBoard's Python loader itself dies on such a file
    (its reload thread raises DecodeError, every run stays unloaded), before any plugin is asked."""
    logdir = str(tmp_path / "runs")
    write_events(logdir, "good", [[event(1, severity="error")]], losses={"loss": [1.0, 0.5]})
    write_bad_scalar_tags(os.path.join(logdir, "scalar_tags"))
    with serve(logdir, "true", ready=lambda tb: "good" in {r["run"] for r in tb.api("runs")["runs"]}) as tb:
        assert [e["step"] for e in tb.api("events?run=good")["events"]] == [1]
        assert tb.api("curves?run=good")["curves"][0]["steps"] == [0, 1]
        tb.api("events?run=scalar_tags")
        tb.api("curves?run=scalar_tags")


# -- route parameters ---------------------------------------------------------------------------

HOSTILE_NAMES = [
    "../../etc/passwd", "/etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd", "good%00../../etc/passwd",
    "%00", "..\\..\\windows\\win.ini", "%ff%fe", "file:///etc/passwd", "good/../good", "x" * 10_000,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_run_and_tag_parameters_cannot_read_outside_the_loaded_data(client, name):
    """A run or tag is only ever a key into what TensorBoard loaded: unknown names answer nothing."""
    for url in (f"events?run={name}", f"curves?run={name}", f"curves?run=good&tag={name}", f"curves?run={name}&tag=loss"):
        response = client.get(route(url))
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        body = json.loads(response.get_data())
        assert body.get("events", []) == []
        assert all(c["steps"] == [] for c in body.get("curves", []))
        assert b"root:" not in response.get_data()


@pytest.mark.parametrize(
    "url",
    ["runs", "events?run=good", "curves?run=good", "events", "curves", "static/index.js", "static/../plugin.py", "static/%00", "nothing"],
)
def test_every_answer_carries_nosniff(client, url):
    """200s, 400s and 404s alike: a browser never guesses a content type."""
    response = client.get(route(url))
    assert response.status_code in (200, 400, 404)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- thousands of runs --------------------------------------------------------------------------

MANY = 2_000


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory):
    """2,000 small DiagWriter runs: every third with an error at a step of its own."""
    logdir = str(tmp_path_factory.mktemp("many") / "runs")
    for i in range(MANY):
        severity = "error" if i % 3 == 0 else "warning"
        write_events(logdir, f"run{i:04d}", [[event(i, severity=severity)]], losses={"loss": [1.0, 0.5]})
    return logdir


def test_two_thousand_runs_are_listed_correctly_and_quickly(many_runs):
    """/runs lists all 2,000 with their counts and first errors; the first answer within seconds,
    a repeated one (cached events) faster."""
    client = make_client(many_runs)[0]
    started = time.perf_counter()
    runs = get(client, route("runs"))["runs"]
    first = time.perf_counter() - started
    started = time.perf_counter()
    assert get(client, route("runs"))["runs"] == runs
    again = time.perf_counter() - started
    assert [r["run"] for r in runs] == [f"run{i:04d}" for i in range(MANY)]
    for i, r in enumerate(runs):
        assert r["counts"]["error" if i % 3 == 0 else "warning"] == 1
        assert (r["first_error"] or {}).get("step") == (i if i % 3 == 0 else None)
    assert first < 20 and again < 5, (first, again)
