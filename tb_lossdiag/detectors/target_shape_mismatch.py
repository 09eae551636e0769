"""target_shape_mismatch: a loss broadcasts its input against a target of another shape."""

import math

from tb_lossdiag.detectors._model import GraphCheck


def _shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


class TargetShapeMismatch(GraphCheck):
    """Fires at the first logged step whose loss broadcast its input (e.g. [N, 1] with [N] to [N, N])."""

    id = "target_shape_mismatch"
    hint = (
        "Make prediction and target the same shape before the loss: pred.squeeze(-1) or "
        "target.unsqueeze(-1) (target.view_as(pred))."
    )

    def check(self, graph, point):
        if graph.broadcast is None:
            return None
        before, after = graph.broadcast
        return (
            f"the loss broadcasts a prediction of shape {_shape(before)} against a target of "
            f"another shape to {_shape(after)}: every prediction is compared with every target, "
            "so the model learns the target's mean",
            {"input_numel": math.prod(before), "broadcast_numel": math.prod(after)},
        )
