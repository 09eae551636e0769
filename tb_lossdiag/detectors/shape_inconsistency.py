"""shape_inconsistency: a tensor field whose shape changes across Dataset items."""

from tb_lossdiag.detectors._data import DataDetector, ShapeChanges, data_event, groups


class ShapeInconsistency(DataDetector):
    """Fires on a field of several shapes across the sampled items: default_collate cannot stack it."""

    id = "shape_inconsistency"

    def on_data(self, obs):
        if not isinstance(obs, ShapeChanges) or len(obs.shapes) < 2:
            return ()
        message = f"{obs.place.text} has {len(obs.shapes)} shapes across {obs.sampled}: {groups(obs.shapes)}"
        hint = (
            "default_collate cannot stack them: resize or pad every item to one shape in __getitem__, "
            "or pad in a collate_fn (torch.nn.utils.rnn.pad_sequence)"
        )
        return [data_event(self, obs, "warning", message, hint, shapes=len(obs.shapes))]
