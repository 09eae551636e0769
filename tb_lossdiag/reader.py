"""Read lossdiag events (and, on request, loss curves) from a log directory, with no TensorBoard server."""

import dataclasses
import math
import os
import re
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np
from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2 as tf_event_pb2

from tb_lossdiag import eventfile, metadata
from tb_lossdiag.events import Event
from tb_lossdiag.tags import Exactly, Substring, TagRule, matcher

# Told (bytes read so far, bytes in all) as a log directory is read.
Progress = Callable[[int, int], None]
_RECORD_MARK = metadata.PLUGIN_NAME.encode()  # in every lossdiag record: its plugin name, its tag prefix
# A sharded model's ranks each write their part of the job's global norms (watch/summaries.py):
# diag/shard/<name>, <name> one of SHARD_NAMES, each the root of the rank's share of the squares.
SHARD_PREFIX = "diag/shard/"
SHARD_NAMES = ("grad_norm", "weight_norm", "update_norm", "updated_weight_norm", "ranks")
# The job's global values combine() makes of them, under these names.
JOB_PREFIX = "diag/job/"
JOB_NAMES = ("grad_norm", "weight_norm", "update_ratio")
_RANK_RUN = re.compile(r"rank\d+")  # rank_log_dir's run of rank N > 0
Points = List[Tuple[int, float]]  # (step, value) in file order
_SHARD_MARK = SHARD_PREFIX.encode()


@dataclasses.dataclass
class RunEvents:
    """The events of one run (a directory holding event files), and what could not be read."""

    run: str  # path relative to the log directory; "." for the directory itself
    events: List[Event] = dataclasses.field(default_factory=list)
    notices: List[str] = dataclasses.field(default_factory=list)
    record_tags: Set[str] = dataclasses.field(default_factory=set)  # tags of its lossdiag records
    # loss tag -> [(step, value, wall_time)] in file order; filled only when asked for
    curves: Dict[str, List[Tuple[int, float, float]]] = dataclasses.field(default_factory=dict)
    loss_tags: List[str] = dataclasses.field(default_factory=list)  # the tags its DiagWriter diagnosed as losses
    diagnosis: list = dataclasses.field(default_factory=list)  # tb_lossdiag.diagnosis.Diagnosis, most serious first
    shards: Dict[str, Points] = dataclasses.field(default_factory=dict)  # a sharded model's: SHARD_NAMES -> points
    # On the first run of a sharded job (rank 0's) once read_logdir has read its ranks: JOB_PREFIX +
    # JOB_NAMES -> the job's global values, at the steps every rank recorded (see combine)
    combined: Dict[str, Points] = dataclasses.field(default_factory=dict)


def find_runs(logdir: str) -> List[str]:
    """Directories below `logdir` (itself included) holding event files, sorted."""
    if not os.path.isdir(logdir):
        raise FileNotFoundError(f"log directory {logdir!r} does not exist or is not a directory")
    runs = []
    for directory, _, files in os.walk(logdir):
        if any("tfevents" in name for name in files):
            runs.append(directory)
    return sorted(runs)


def read_logdir(logdir: str, loss_tags: Optional[TagRule] = None, progress: Optional[Progress] = None) -> List[RunEvents]:
    """The lossdiag events of every run below `logdir` (and the curves of tags `loss_tags` accepts);
    the first run of each sharded job gets the job's global norms (`combined`)."""
    runs = list(iter_logdir(logdir, loss_tags, progress))
    jobs: Dict[str, List[RunEvents]] = {}
    for run in runs:
        if run.shards:
            jobs.setdefault(job_of(run.run), []).append(run)
    for ranks in jobs.values():
        ranks[0].combined = combine([run.shards for run in ranks])
    return runs


def iter_logdir(logdir: str, loss_tags: Optional[TagRule] = None, progress: Optional[Progress] = None) -> Iterator[RunEvents]:
    """read_logdir's runs one at a time, each read when asked for (with no `combined` norms)."""
    runs = find_runs(logdir)
    tell = _Tally(progress, sum(os.path.getsize(p) for run in runs for p in _event_files(run)))
    for path in runs:
        yield read_run(path, os.path.relpath(path, logdir), loss_tags, tell)


def read_run(path: str, name: str = ".", loss_tags: Optional[TagRule] = None,
             progress: Optional[Callable[[int], None]] = None) -> RunEvents:
    """The lossdiag events of the event files directly in `path`, sorted by step, with their diagnosis."""
    is_loss = None if loss_tags is None else matcher(loss_tags, "loss_tags")
    run = _Run(RunEvents(run=name), is_loss)
    for file_path in _event_files(path):
        file_name = os.path.basename(file_path)
        for buf, offsets, lengths in eventfile.batches(file_path, run.result.notices, _finder(is_loss), progress):
            scalars = _simple_scalars(buf, offsets, lengths) if is_loss is not None else [None] * len(offsets)
            for offset, length, scalar in zip(offsets, lengths, scalars):
                if scalar is None or not run.simple_scalar(*scalar):
                    run.event(buf[offset: offset + length], file_name)
    return run.done()


class _Run:
    """A run's events, curves and notices as its records are read."""

    def __init__(self, result: RunEvents, is_loss: Optional[Callable[[str], bool]]):
        self.result, self.is_loss = result, is_loss
        self.plugin_of: Dict[str, str] = {}  # tag -> plugin name: TF2 writers put the metadata on a tag's first value only
        self.per_record: List[Tuple[str, ...]] = []  # each lossdiag record's notices
        self.loss_tags: Dict[str, None] = {}
        self.curve_of: Dict[bytes, Optional[list]] = {}  # tag of a simple scalar -> its curve; None: not read here

    def simple_scalar(self, tag: bytes, step: int, value: float, wall_time: float) -> bool:
        """Append a SummaryWriter scalar to its loss curve; False when its tag is not read this way."""
        if tag not in self.curve_of:
            self.curve_of[tag] = self._curve(tag.decode("utf-8", "replace"))
        curve = self.curve_of[tag]
        if curve is None:
            return False
        curve.append((step, value, wall_time))
        return True

    def _curve(self, tag: str) -> Optional[list]:
        if self.is_loss is None or not self.is_loss(tag) or tag.startswith(metadata.TAG_PREFIX):  # a record's tag: parsed in full
            return None
        self.plugin_of.setdefault(tag, "")
        return self.result.curves.setdefault(tag, [])

    def event(self, data: bytes, file_name: str) -> None:
        """Read the lossdiag records and loss scalars of one serialized event."""
        try:
            event = tf_event_pb2.Event.FromString(data)
        except DecodeError:
            self.result.notices.append(f"{file_name}: a record is not an event; skipped")
            return
        for value in event.summary.value:
            plugin = value.metadata.plugin_data.plugin_name
            if plugin == metadata.PLUGIN_NAME or value.tag.startswith(metadata.TAG_PREFIX):
                self.result.record_tags.add(value.tag)
                record = metadata.parse_record(value.tensor.string_val)
                self.result.events.extend(record.events)
                self.loss_tags.update(dict.fromkeys(record.loss_tags))
                self.per_record.append(record.notices)
            elif value.tag.startswith(SHARD_PREFIX):
                self.result.shards.setdefault(value.tag[len(SHARD_PREFIX):], []).append((event.step, value.simple_value))
            elif self.is_loss is not None and self.is_loss(value.tag):
                plugin = plugin or self.plugin_of.get(value.tag, "")
                self.plugin_of.setdefault(value.tag, plugin)
                _read_scalar(value, plugin, event, self.result)

    def done(self) -> RunEvents:
        """The run read: events sorted by step, notices counted, its loss tags and diagnosis."""
        from tb_lossdiag.diagnosis import diagnose

        self.result.notices.extend(metadata.count_notices(self.per_record))
        self.result.events.sort(key=lambda e: (e.step, e.wall_time))
        self.result.loss_tags = list(self.loss_tags)
        self.result.diagnosis = diagnose(self.result.events)
        return self.result


def job_of(run: str) -> str:
    """The job a run belongs to: "x" for "x/rank3" (rank_log_dir's layout; "." for "rank3"), else the run."""
    head, _, last = run.replace(os.sep, "/").rpartition("/")
    return (head or ".") if _RANK_RUN.fullmatch(last) else run


def combine(ranks: Sequence[Mapping[str, Sequence[Tuple[int, float]]]]) -> Dict[str, Points]:
    """A sharded job's global norms from its ranks' shard records (RunEvents.shards, one per rank):
    JOB_PREFIX + "grad_norm" and "weight_norm" (root of the sum of the ranks' squares) and
    "update_ratio" (the global update norm over the global norm of the weights it updated), at the
    steps where every rank of the job (as many as their records say) recorded its part."""
    parts: Dict[int, List[Dict[str, float]]] = {}  # step -> each rank's record of it
    for shards in ranks:
        at: Dict[int, Dict[str, float]] = {}
        for name, points in shards.items():
            for step, value in points:  # a step written twice (a restart): its last value
                at.setdefault(step, {})[name] = value
        for step, record in at.items():
            parts.setdefault(step, []).append(record)
    combined: Dict[str, Points] = {JOB_PREFIX + name: [] for name in JOB_NAMES}
    for step in sorted(parts):
        records = parts[step]
        if any(any(name not in record for name in SHARD_NAMES) or record["ranks"] != len(records) for record in records):
            continue  # a rank missing at this step (not sampled there, or its run not here)
        total = {name: math.sqrt(sum(record[name] ** 2 for record in records)) for name in SHARD_NAMES[:4]}
        combined[JOB_PREFIX + "grad_norm"].append((step, total["grad_norm"]))
        combined[JOB_PREFIX + "weight_norm"].append((step, total["weight_norm"]))
        if total["updated_weight_norm"] > 0:
            combined[JOB_PREFIX + "update_ratio"].append((step, total["update_norm"] / total["updated_weight_norm"]))
    return {name: points for name, points in combined.items() if points}


def _event_files(path: str) -> List[str]:
    return [os.path.join(path, f) for f in sorted(os.listdir(path)) if "tfevents" in f]


def _finder(is_loss: Optional[Callable[[str], bool]]) -> eventfile.Finder:
    """What marks a record worth decoding: lossdiag records, and the scalars of the loss tags."""
    marks = [_RECORD_MARK, _SHARD_MARK]
    if is_loss is None:
        return eventfile.Finder(marks)
    if isinstance(is_loss, Exactly):
        return eventfile.Finder([*marks, *(tag.encode() for tag in is_loss.tags)])
    if isinstance(is_loss, Substring) and is_loss.text.isascii():
        return eventfile.Finder(marks, folded=[is_loss.text.encode()])
    return eventfile.Finder(every=True)  # any other predicate needs every tag decoded


class _Tally:
    """Bytes read across a log directory, told to `progress` as (done, total)."""

    def __init__(self, progress: Optional[Progress], total: int):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)


_SHIFTS = np.arange(10, dtype=np.uint64) * np.uint64(7)


def _simple_scalars(buf: bytes, offsets: List[int], lengths: List[int]) -> List[Optional[Tuple[bytes, int, float, float]]]:
    """For each event at `offsets`, (tag, step, value, wall time) if it holds one simple_value alone, else None."""
    # The layout SummaryWriter writes, read with numpy over a whole chunk (protobuf takes ~10x longer per
    # event): field 1 wall_time (double), field 2 step (varint, absent when 0), field 5 summary
    # { field 1 value { field 1 tag, field 2 simple_value (float) } } with one-byte lengths.
    if not offsets:
        return []
    data = np.frombuffer(buf, dtype=np.uint8)
    last = len(data) - 1
    at = lambda positions: data[np.minimum(positions, last)]  # noqa: E731  (indexes past a record fail a check below)
    start, end = np.asarray(offsets), np.asarray(offsets) + np.asarray(lengths)
    has_step = at(start + 9) == 0x10
    varint = at((start + 10)[:, None] + np.arange(10))
    ends = varint < 0x80
    size = ends.argmax(axis=1) + 1
    used = np.arange(10) < size[:, None]
    step = np.where(has_step, (((varint & 0x7F).astype(np.uint64) << _SHIFTS) * used).sum(axis=1), 0).view(np.int64)
    summary = np.where(has_step, start + 10 + size, start + 9)
    rest = end - summary
    tag_end = summary + 6 + at(summary + 5)
    ok = ((end - start >= 16) & (at(start) == 0x09) & (~has_step | ends.any(axis=1)) & (rest >= 12)
          & (at(summary) == 0x2A) & (at(summary + 2) == 0x0A) & (at(summary + 4) == 0x0A)
          & (at(summary + 1) == rest - 2) & (at(summary + 3) == rest - 4)
          & (tag_end + 5 == end) & (at(tag_end) == 0x15))
    value = at((tag_end + 1)[:, None] + np.arange(4)).view("<f4").ravel()
    wall_time = at((start + 1)[:, None] + np.arange(8)).view("<f8").ravel()
    return [
        (buf[tag_start: tag_stop], s, v, w) if good else None
        for good, tag_start, tag_stop, s, v, w in zip(
            ok.tolist(), (summary + 6).tolist(), tag_end.tolist(), step.tolist(), value.tolist(), wall_time.tolist())
    ]


def _read_scalar(value, plugin: str, event, result: RunEvents) -> None:
    """Append a scalar (SummaryWriter's simple_value, or a TF2/Keras scalar tensor) to its curve."""
    if value.HasField("simple_value"):
        number = value.simple_value
    elif plugin == "scalars" and value.HasField("tensor"):
        from tensorboard.util import tensor_util  # imported only here: it brings in ~0.3 s of TensorFlow's stub

        array = tensor_util.make_ndarray(value.tensor)
        if array.size != 1:
            return
        number = float(array.reshape(()))
    else:
        return
    result.curves.setdefault(value.tag, []).append((event.step, number, event.wall_time))
