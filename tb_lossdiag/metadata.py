"""The plugin's identity and record format: its name, the schema version, and the creator and parser of its records."""

import dataclasses
from typing import Dict, Iterable, List, Tuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from tensorboard.compat.proto import summary_pb2

from tb_lossdiag.events import Event
from tb_lossdiag.proto import event_pb2

PLUGIN_NAME = "lossdiag"
TAB_NAME = "Loss Diagnostics"

# Version 1: one EventBatch per record, in a DT_STRING tensor of shape [1]. Fields added since
# (EventBatch.loss_tags) are optional: an older reader ignores them and loses nothing it showed.
SCHEMA_VERSION = 1

# Records go under "<TAG_PREFIX><writer session>": one tag per writer session whose record steps
# only increase, so TensorBoard's loaders (one record per tag per step, steps that go back purge
# later ones) keep every record, also when a run is restarted into the same directory.
TAG_PREFIX = "_lossdiag/"

UNREADABLE = "a lossdiag record could not be read (corrupt, or not written by tb_lossdiag) and was skipped"
NOT_UTF8 = "some event text is not valid UTF-8: undecodable bytes are shown as \ufffd"
UNKNOWN_SEVERITY = "some events have a severity this tb_lossdiag does not know: shown as warnings"
_KNOWN_SEVERITIES = frozenset(event_pb2.Severity.values()) - {event_pb2.SEVERITY_UNSPECIFIED}
_TEXT_FIELDS = ("kind", "tag", "message", "hint", "category")


def create_summary_metadata():
    """Summary metadata marking a record as a lossdiag event batch."""
    content = event_pb2.PluginContent(schema_version=SCHEMA_VERSION)
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content.SerializeToString()
        ),
        # Without DATA_CLASS_TENSOR every TensorBoard loader drops the record.
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_plugin_metadata(content: bytes) -> event_pb2.PluginContent:
    """The PluginContent of a lossdiag tag's summary metadata; DecodeError when it is not one."""
    return event_pb2.PluginContent.FromString(content)


@dataclasses.dataclass(frozen=True)
class Record:
    """What one lossdiag record holds: its events, the loss tags its writer had diagnosed, notices."""

    events: List[Event]
    loss_tags: Tuple[str, ...] = ()
    notices: Tuple[str, ...] = ()  # what the user should know about it, each once


def newer_schema(version: int) -> str:
    """The notice for a record written by a newer tb_lossdiag."""
    return (f"written by a newer tb_lossdiag (schema {version} > {SCHEMA_VERSION}); "
            "fields it added are not shown: upgrade tb_lossdiag")


def parse_record(blobs: Iterable) -> Record:
    """The record whose tensor holds `blobs` (EventBatch bytes); never raises, whatever they are."""
    events: List[Event] = []
    loss_tags: List[str] = []
    notices: List[str] = []
    for blob in blobs:
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
        if batch.schema_version > SCHEMA_VERSION:
            notices.append(newer_schema(batch.schema_version))
        for proto in batch.events:
            if proto.severity not in _KNOWN_SEVERITIES:
                notices.append(UNKNOWN_SEVERITY)
            events.append(Event.from_proto(proto))
        loss_tags.extend(batch.loss_tags)
    return Record(events, tuple(dict.fromkeys(loss_tags)), tuple(dict.fromkeys(notices)))


def count_notices(per_record: Iterable[Tuple[str, ...]]) -> List[str]:
    """Each distinct notice once, with how many records it concerns: 5,000 bad records, one line."""
    counts: Dict[str, int] = {}
    for notices in per_record:
        for notice in notices:
            counts[notice] = counts.get(notice, 0) + 1
    return [notice if n == 1 else f"{notice} ({n:,} records)" for notice, n in counts.items()]


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
    batch = event_pb2.EventBatch(schema_version=lenient.schema_version, events=events,
                                 loss_tags=[_text(t) for t in lenient.loss_tags])
    return batch, True


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
