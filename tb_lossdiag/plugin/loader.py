"""The TensorBoard entry point of the Loss Diagnostics tab: light imports, the plugin loaded lazily."""

from tensorboard.plugins import base_plugin

from tb_lossdiag import metadata


class LossDiagLoader(base_plugin.TBLoader):
    """Keeps every lossdiag record by default and builds the plugin."""

    def fix_flags(self, flags):
        """Default `--samples_per_plugin lossdiag=0` (keep all); an explicit user value wins."""
        # TensorBoard's loaders keep 10 (Python) or 100 (Rust) records per tag: events would be
        # lost. Only our plugin's entry is touched: scalars=0 would empty the scalars dashboard.
        samples = getattr(flags, "samples_per_plugin", None)
        if samples is not None:
            samples.setdefault(metadata.PLUGIN_NAME, 0)

    def load(self, context):
        """The LossDiagPlugin, imported only now so that an import problem cannot stop TensorBoard."""
        from tb_lossdiag.plugin.plugin import LossDiagPlugin

        return LossDiagPlugin(context)
