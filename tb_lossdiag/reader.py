"""Read lossdiag events (and, on request, loss curves) from a log directory, with no TensorBoard server."""

import dataclasses
import os
import struct
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2 as tf_event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.util import tensor_util

from tb_lossdiag import metadata, summary
from tb_lossdiag.events import Event


@dataclasses.dataclass
class RunEvents:
    """The events of one run (a directory holding event files), and what could not be read."""

    run: str  # path relative to the log directory; "." for the directory itself
    events: List[Event] = dataclasses.field(default_factory=list)
    notices: List[str] = dataclasses.field(default_factory=list)
    record_tags: Set[str] = dataclasses.field(default_factory=set)  # tags of its lossdiag records
    # loss tag -> [(step, value, wall_time)] in file order; filled only when asked for
    curves: Dict[str, List[Tuple[int, float, float]]] = dataclasses.field(default_factory=dict)


def find_runs(logdir: str) -> List[str]:
    """Directories below `logdir` (itself included) holding event files, sorted."""
    if not os.path.isdir(logdir):
        raise FileNotFoundError(f"log directory {logdir!r} does not exist or is not a directory")
    runs = []
    for directory, _, files in os.walk(logdir):
        if any("tfevents" in name for name in files):
            runs.append(directory)
    return sorted(runs)


def read_logdir(logdir: str, loss_tags: Optional[Callable[[str], bool]] = None) -> List[RunEvents]:
    """The lossdiag events of every run below `logdir` (and the curves of tags `loss_tags` accepts)."""
    return [read_run(path, os.path.relpath(path, logdir), loss_tags) for path in find_runs(logdir)]


def read_run(path: str, name: str = ".", loss_tags: Optional[Callable[[str], bool]] = None) -> RunEvents:
    """The lossdiag events of the event files directly in `path`, sorted by step."""
    result = RunEvents(run=name)
    plugin_of = {}  # tag -> plugin name: TF2 writers put the metadata on a tag's first value only
    files = sorted(f for f in os.listdir(path) if "tfevents" in f)
    for file_name in files:
        for data in _records(os.path.join(path, file_name), result.notices):
            try:
                event = tf_event_pb2.Event.FromString(data)
            except DecodeError:
                result.notices.append(f"{file_name}: a record is not an event; skipped")
                continue
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name or plugin_of.get(value.tag, "")
                plugin_of.setdefault(value.tag, plugin)
                if plugin == metadata.PLUGIN_NAME or value.tag.startswith(metadata.TAG_PREFIX):
                    _read_batch(value, file_name, result)
                elif loss_tags is not None and loss_tags(value.tag):
                    _read_scalar(value, plugin, event, result)
    result.events.sort(key=lambda e: (e.step, e.wall_time))
    return result


def _read_scalar(value, plugin: str, event, result: RunEvents) -> None:
    """Append a scalar (SummaryWriter's simple_value, or a TF2/Keras scalar tensor) to its curve."""
    if value.HasField("simple_value"):
        number = value.simple_value
    elif plugin == "scalars" and value.HasField("tensor"):
        array = tensor_util.make_ndarray(value.tensor)
        if array.size != 1:
            return
        number = float(array.reshape(()))
    else:
        return
    result.curves.setdefault(value.tag, []).append((event.step, number, event.wall_time))


def _read_batch(value, file_name: str, result: RunEvents) -> None:
    result.record_tags.add(value.tag)
    if not value.tensor.string_val:
        return
    try:
        events, version = summary.parse_batch(value.tensor.string_val[0])
    except DecodeError:
        result.notices.append(f"{file_name}: an unreadable lossdiag record was skipped")
        return
    if version > metadata.SCHEMA_VERSION:
        notice = (
            f"written by a newer tb_lossdiag (schema {version} > {metadata.SCHEMA_VERSION}); "
            "fields it added are not shown: upgrade tb_lossdiag"
        )
        if notice not in result.notices:
            result.notices.append(notice)
    result.events.extend(events)


_HEADER = struct.Struct("<QI")


def _records(path: str, notices: List[str]) -> Iterator[bytes]:
    """The records of one TFRecord file; a truncated or corrupt tail ends it with a notice."""
    name = os.path.basename(path)
    with open(path, "rb") as f:
        offset = 0
        while True:
            header = f.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                notices.append(f"{name}: truncated at byte {offset} (the writer crashed or is still writing)")
                return
            length, length_crc = _HEADER.unpack(header)
            if masked_crc32c(header[:8]) != length_crc:
                notices.append(f"{name}: corrupt record at byte {offset}; the rest of the file was skipped")
                return
            data = f.read(length)
            footer = f.read(4)
            if len(data) < length or len(footer) < 4:
                notices.append(f"{name}: truncated at byte {offset} (the writer crashed or is still writing)")
                return
            offset += _HEADER.size + length + 4
            yield data
