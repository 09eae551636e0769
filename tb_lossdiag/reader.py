"""Read lossdiag events from a log directory, with no TensorBoard server (used by the CLI)."""

import dataclasses
import os
import struct
from typing import Iterator, List, Tuple

from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2 as tf_event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

from tb_lossdiag import metadata, summary
from tb_lossdiag.events import Event


@dataclasses.dataclass
class RunEvents:
    """The events of one run (a directory holding event files), and what could not be read."""

    run: str  # path relative to the log directory; "." for the directory itself
    events: List[Event] = dataclasses.field(default_factory=list)
    notices: List[str] = dataclasses.field(default_factory=list)


def find_runs(logdir: str) -> List[str]:
    """Directories below `logdir` (itself included) holding event files, sorted."""
    if not os.path.isdir(logdir):
        raise FileNotFoundError(f"log directory {logdir!r} does not exist or is not a directory")
    runs = []
    for directory, _, files in os.walk(logdir):
        if any("tfevents" in name for name in files):
            runs.append(directory)
    return sorted(runs)


def read_logdir(logdir: str) -> List[RunEvents]:
    """The lossdiag events of every run below `logdir`."""
    return [read_run(path, os.path.relpath(path, logdir)) for path in find_runs(logdir)]


def read_run(path: str, name: str = ".") -> RunEvents:
    """The lossdiag events of the event files directly in `path`, sorted by step."""
    result = RunEvents(run=name)
    files = sorted(f for f in os.listdir(path) if "tfevents" in f)
    for file_name in files:
        for data in _records(os.path.join(path, file_name), result.notices):
            try:
                event = tf_event_pb2.Event.FromString(data)
            except DecodeError:
                result.notices.append(f"{file_name}: a record is not an event; skipped")
                continue
            for value in event.summary.value:
                _read_value(value, file_name, result)
    result.events.sort(key=lambda e: (e.step, e.wall_time))
    return result


def _read_value(value, file_name: str, result: RunEvents) -> None:
    is_ours = value.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME or (
        not value.metadata.plugin_data.plugin_name and value.tag.startswith(metadata.TAG_PREFIX)
    )
    if not is_ours or not value.tensor.string_val:
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
