"""Read lossdiag events (and, on request, loss curves) from a log directory, with no TensorBoard server."""

import dataclasses
import os
import struct
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2 as tf_event_pb2

from tb_lossdiag import eventfile, metadata
from tb_lossdiag.events import Event
from tb_lossdiag.tags import Exactly, Substring, TagRule, matcher

# Told (bytes read so far, bytes in all) as a log directory is read.
Progress = Callable[[int, int], None]
_RECORD_MARK = metadata.PLUGIN_NAME.encode()  # in every lossdiag record: its plugin name, its tag prefix


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
    """The lossdiag events of every run below `logdir` (and the curves of tags `loss_tags` accepts)."""
    return list(iter_logdir(logdir, loss_tags, progress))


def iter_logdir(logdir: str, loss_tags: Optional[TagRule] = None, progress: Optional[Progress] = None) -> Iterator[RunEvents]:
    """read_logdir's runs one at a time, each read when asked for."""
    runs = find_runs(logdir)
    tell = _Tally(progress, sum(os.path.getsize(p) for run in runs for p in _event_files(run)))
    for path in runs:
        yield read_run(path, os.path.relpath(path, logdir), loss_tags, tell)


def read_run(path: str, name: str = ".", loss_tags: Optional[TagRule] = None,
             progress: Optional[Callable[[int], None]] = None) -> RunEvents:
    """The lossdiag events of the event files directly in `path`, sorted by step, with their diagnosis."""
    from tb_lossdiag.diagnosis import diagnose

    result = RunEvents(run=name)
    is_loss = None if loss_tags is None else matcher(loss_tags, "loss_tags")
    finder = _finder(is_loss)
    plugin_of: Dict[str, str] = {}  # tag -> plugin name: TF2 writers put the metadata on a tag's first value only
    per_record: List[Tuple[str, ...]] = []
    loss_tags_seen: Dict[str, None] = {}
    curve_of: Dict[bytes, Optional[list]] = {}  # tag of a simple scalar -> its curve, None: not read
    for file_path in _event_files(path):
        file_name = os.path.basename(file_path)
        for data in eventfile.records(file_path, result.notices, finder, progress):
            scalar = _simple_scalar(data) if is_loss is not None else None
            if scalar is not None:
                tag_bytes, step, number, wall_time = scalar
                if tag_bytes not in curve_of:
                    curve_of[tag_bytes] = _curve(tag_bytes.decode("utf-8", "replace"), is_loss, plugin_of, result)
                curve = curve_of[tag_bytes]
                if curve is not None:
                    curve.append((step, number, wall_time))
                    continue
            try:
                event = tf_event_pb2.Event.FromString(data)
            except DecodeError:
                result.notices.append(f"{file_name}: a record is not an event; skipped")
                continue
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == metadata.PLUGIN_NAME or value.tag.startswith(metadata.TAG_PREFIX):
                    result.record_tags.add(value.tag)
                    record = metadata.parse_record(value.tensor.string_val)
                    result.events.extend(record.events)
                    loss_tags_seen.update(dict.fromkeys(record.loss_tags))
                    per_record.append(record.notices)
                elif is_loss is not None and is_loss(value.tag):
                    plugin = plugin or plugin_of.get(value.tag, "")
                    plugin_of.setdefault(value.tag, plugin)
                    _read_scalar(value, plugin, event, result)
    result.notices.extend(metadata.count_notices(per_record))
    result.events.sort(key=lambda e: (e.step, e.wall_time))
    result.loss_tags = list(loss_tags_seen)
    result.diagnosis = diagnose(result.events)
    return result


def _curve(tag: str, is_loss: Callable[[str], bool], plugin_of: Dict[str, str], result: RunEvents) -> Optional[list]:
    """The curve the simple scalars of `tag` go to; None when not read here (not a loss, or a record's tag)."""
    if not is_loss(tag) or tag.startswith(metadata.TAG_PREFIX):
        return None
    plugin_of.setdefault(tag, "")
    return result.curves.setdefault(tag, [])


def _event_files(path: str) -> List[str]:
    return [os.path.join(path, f) for f in sorted(os.listdir(path)) if "tfevents" in f]


def _finder(is_loss: Optional[Callable[[str], bool]]) -> eventfile.Finder:
    """What marks a record worth decoding: lossdiag records, and the scalars of the loss tags."""
    if is_loss is None:
        return eventfile.Finder([_RECORD_MARK])
    if isinstance(is_loss, Exactly):
        return eventfile.Finder([_RECORD_MARK, *(tag.encode() for tag in is_loss.tags)])
    if isinstance(is_loss, Substring) and is_loss.text.isascii():
        return eventfile.Finder([_RECORD_MARK], folded=[is_loss.text.encode()])
    return eventfile.Finder(every=True)  # any other predicate needs every tag decoded


class _Tally:
    """Bytes read across a log directory, told to `progress` as (done, total)."""

    def __init__(self, progress: Optional[Progress], total: int):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)


_WALL_TIME = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def _simple_scalar(data: bytes) -> Optional[Tuple[bytes, int, float, float]]:
    """(tag, step, value, wall time) of an event holding one simple_value alone, as SummaryWriter writes it; else None."""
    # Read from the bytes: protobuf takes several times longer. Any other event is parsed in full.
    if len(data) < 16 or data[0] != 0x09:  # field 1, wall_time, a double
        return None
    pos, step, shift = 9, 0, 0
    if data[pos] == 0x10:  # field 2, step, a varint (absent when 0)
        pos += 1
        while True:
            byte = data[pos]
            step |= (byte & 0x7F) << shift
            pos += 1
            if byte < 0x80:
                break
            shift += 7
        if step >= 1 << 63:
            step -= 1 << 64
    # Field 5 summary { field 1 value { field 1 tag, field 2 simple_value } }, each length one byte.
    size = len(data) - pos
    if size < 12 or data[pos: pos + 5: 2] != b"\x2a\x0a\x0a" or data[pos + 1] != size - 2 or data[pos + 3] != size - 4:
        return None
    tag_end = pos + 6 + data[pos + 5]
    if tag_end + 5 != len(data) or data[tag_end] != 0x15:
        return None
    return data[pos + 6: tag_end], step, _FLOAT.unpack_from(data, tag_end + 1)[0], _WALL_TIME.unpack_from(data, 1)[0]


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
