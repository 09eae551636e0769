"""softmax_before_cross_entropy: CrossEntropyLoss fed softmax output instead of raw logits."""

from tb_lossdiag.detectors._model import GraphCheck, through


class SoftmaxBeforeCrossEntropy(GraphCheck):
    """Fires at the first logged step whose cross_entropy input is a softmax's output, reshaped,
    selected, cast or scaled on the way."""

    id = "softmax_before_cross_entropy"
    severity = "warning"
    hint = (
        "Remove the nn.Softmax / F.softmax before nn.CrossEntropyLoss and pass the raw logits: "
        "the loss applies log_softmax itself; apply softmax only to read probabilities."
    )

    def check(self, graph, point):
        if graph.loss_fn != "cross_entropy" or graph.input_op != "SoftmaxBackward0":
            return None
        return (
            f"cross_entropy is fed softmax output{through(graph)} ({point.value:.4g}): it applies softmax "
            "a second time, so the loss cannot go below ~log(classes) and its gradients shrink",
            {"value": point.value},
        )
