"""Events -> the Summary proto that carries them in an event file (pure); `metadata.parse_record` reads it back."""

from typing import Iterable, Sequence

from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from tb_lossdiag import metadata
from tb_lossdiag.events import Event
from tb_lossdiag.proto import event_pb2


def events_summary(tag: str, events: Sequence[Event], loss_tags: Iterable[str] = ()) -> summary_pb2.Summary:
    """One Summary value holding all `events` and the `loss_tags` diagnosed so far as a single record."""
    batch = event_pb2.EventBatch(
        schema_version=metadata.SCHEMA_VERSION, events=[e.to_proto() for e in events], loss_tags=list(loss_tags)
    )
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]),
        string_val=[batch.SerializeToString()],
    )
    value = summary_pb2.Summary.Value(
        tag=tag, metadata=metadata.create_summary_metadata(), tensor=tensor
    )
    return summary_pb2.Summary(value=[value])
