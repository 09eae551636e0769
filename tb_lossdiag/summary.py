"""Events -> the Summary proto that carries them in an event file (pure)."""

from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from tb_lossdiag import metadata
from tb_lossdiag.proto import event_pb2


def events_summary(tag, events):
    """One Summary value holding all `events` as a single EventBatch record."""
    batch = event_pb2.EventBatch(
        schema_version=metadata.SCHEMA_VERSION, events=[e.to_proto() for e in events]
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


def parse_batch(data: bytes):
    """The events of one serialized EventBatch, and the schema version that wrote it."""
    from tb_lossdiag.events import Event

    batch = event_pb2.EventBatch.FromString(data)
    return [Event.from_proto(e) for e in batch.events], batch.schema_version
