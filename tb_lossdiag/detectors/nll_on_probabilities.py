"""nll_on_probabilities: nll_loss / NLLLoss fed probabilities (Softmax output), not log-probabilities."""

from tb_lossdiag.detectors._model import GraphCheck, through

_PROBABILITY_OPS = {"SoftmaxBackward0": "nn.Softmax / F.softmax", "SigmoidBackward0": "sigmoid"}


class NllOnProbabilities(GraphCheck):
    """Fires at the first logged step whose nll_loss input is a softmax or sigmoid's output, reshaped,
    selected, cast or scaled on the way (never through a log)."""

    id = "nll_on_probabilities"
    hint = (
        "Use nn.LogSoftmax(dim=1) (or F.log_softmax) before nll_loss, or nn.CrossEntropyLoss on "
        "the raw logits (it applies log_softmax itself)."
    )

    def check(self, graph, point):
        if graph.loss_fn != "nll_loss" or graph.input_op not in _PROBABILITY_OPS:
            return None
        return (
            f"nll_loss is fed {_PROBABILITY_OPS[graph.input_op]} output{through(graph)} (probabilities "
            f"in [0, 1]) instead of log-probabilities: it computes -p[target] = {point.value:.4g}, a "
            "loss that is negative and does not train the model",
            {"value": point.value},
        )
