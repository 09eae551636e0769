"""lossdiag records read from untrusted bytes: every readable event kept, the rest said in notices."""

import dataclasses
import math
from typing import List, Tuple

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from tb_lossdiag import metadata
from tb_lossdiag.events import Event
from tb_lossdiag.proto import event_pb2

# What one event may send: a log directory can hold a 1 MB message or a million evidence entries,
# and every byte of it would reach the browser on each reload. Longer text is cut and marked.
TEXT_LIMIT = 16_384  # characters of message and hint
NAME_LIMIT = 512  # characters of kind, tag, category and each evidence name
EVIDENCE_LIMIT = 64  # evidence entries
TRUNCATED = "…(truncated)"

UNREADABLE = "a lossdiag record could not be read (corrupt, or not written by tb_lossdiag) and was skipped"
NOT_UTF8 = "some event text is not valid UTF-8: undecodable bytes are shown as \ufffd"
UNKNOWN_SEVERITY = "some events have a severity this tb_lossdiag does not know: shown as warnings"
TOO_LONG = f"some events were larger than the tab shows: text cut at {TEXT_LIMIT:,} characters, marked {TRUNCATED}"
_KNOWN_SEVERITIES = frozenset(event_pb2.Severity.values()) - {event_pb2.SEVERITY_UNSPECIFIED}
_TEXT_FIELDS = ("kind", "tag", "message", "hint", "category")

# The parsed events of one record, and what the user should know about it (notices, deduplicated).
Parsed = Tuple[List[Event], Tuple[str, ...]]


def _lenient_batch_class():
    """EventBatch with every string field read as bytes: protobuf rejects a whole message for one
    invalid UTF-8 byte, this twin (made from the real schema, so it cannot drift) does not."""
    file = descriptor_pb2.FileDescriptorProto()
    event_pb2.DESCRIPTOR.CopyToProto(file)
    old, new = f".{file.package}.", ".lenient."
    file.name, file.package = "lossdiag_lenient.proto", "lenient"
    messages = list(file.message_type)
    for message in messages:
        messages.extend(message.nested_type)
        message.options.ClearField("map_entry")  # a map may not have bytes keys: read it as entries
        for field in message.field:
            if field.type == field.TYPE_STRING:
                field.type = field.TYPE_BYTES
            if field.HasField("type_name"):
                field.type_name = field.type_name.replace(old, new, 1)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("lenient.EventBatch"))


_LenientBatch = _lenient_batch_class()


def _decode(data: bytes) -> Tuple[event_pb2.EventBatch, bool]:
    """(the batch, whether invalid UTF-8 was replaced); DecodeError when it is not an EventBatch."""
    try:
        return event_pb2.EventBatch.FromString(data), False
    except DecodeError:
        lenient = _LenientBatch.FromString(data)  # raises DecodeError again for non-protobuf bytes
    events = [
        event_pb2.Event(
            step=e.step, severity=e.severity, wall_time=e.wall_time, rank=e.rank,
            evidence={_text(entry.key): entry.value for entry in e.evidence},
            **{name: _text(getattr(e, name)) for name in _TEXT_FIELDS},
        )
        for e in lenient.events
    ]
    return event_pb2.EventBatch(schema_version=lenient.schema_version, events=events), True


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def _bounded(event: Event) -> Tuple[Event, bool]:
    """`event` within the limits above, with a finite wall time; and whether anything was cut."""
    evidence = {_cut(k, NAME_LIMIT): v for k, v in list(event.evidence.items())[:EVIDENCE_LIMIT]}
    bounded = dataclasses.replace(
        event,
        kind=_cut(event.kind, NAME_LIMIT),
        tag=_cut(event.tag, NAME_LIMIT),
        category=_cut(event.category, NAME_LIMIT),
        message=_cut(event.message, TEXT_LIMIT),
        hint=_cut(event.hint, TEXT_LIMIT),
        evidence=evidence,
        # JSON has no NaN: an impossible wall time only orders events of one step, 0 does that.
        wall_time=event.wall_time if math.isfinite(event.wall_time) else 0.0,
    )
    cut = any(getattr(bounded, f) != getattr(event, f) for f in (*_TEXT_FIELDS, "evidence"))
    return bounded, cut


def parse_record(tensor) -> Parsed:
    """The events of one record's tensor; never raises, whatever bytes it holds."""
    events: List[Event] = []
    notices: List[str] = []
    for blob in np.asarray(tensor).reshape(-1):
        if not isinstance(blob, bytes):  # a number tensor under our plugin name: not ours
            notices.append(UNREADABLE)
            continue
        try:
            batch, replaced = _decode(blob)
        except DecodeError:
            notices.append(UNREADABLE)
            continue
        if replaced:
            notices.append(NOT_UTF8)
        if batch.schema_version > metadata.SCHEMA_VERSION:
            notices.append(
                f"written by a newer tb_lossdiag (schema {batch.schema_version} > {metadata.SCHEMA_VERSION}); "
                "fields it added are not shown: upgrade tb_lossdiag"
            )
        for proto in batch.events:
            if proto.severity not in _KNOWN_SEVERITIES:
                notices.append(UNKNOWN_SEVERITY)
            event, cut = _bounded(Event.from_proto(proto))
            if cut:
                notices.append(TOO_LONG)
            events.append(event)
    return events, tuple(dict.fromkeys(notices))
