"""The plugin's identity: its name, the schema version, and the summary metadata of its records."""

from tensorboard.compat.proto import summary_pb2

from tb_lossdiag.proto import event_pb2

PLUGIN_NAME = "lossdiag"
TAB_NAME = "Loss Diagnostics"

# Version 1: one EventBatch per record, in a DT_STRING tensor of shape [1].
SCHEMA_VERSION = 1

# Records go under "<TAG_PREFIX><writer session>": one tag per writer session whose record steps
# only increase, so TensorBoard's loaders (one record per tag per step, steps that go back purge
# later ones) keep every record, also when a run is restarted into the same directory.
TAG_PREFIX = "_lossdiag/"


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

