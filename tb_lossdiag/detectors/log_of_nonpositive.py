"""log_of_nonpositive: a log of zero or negative values (-inf or NaN)."""

from tb_lossdiag.detectors._model import OperandCheck


class LogOfNonpositive(OperandCheck):
    """Fires when a measured log argument is <= 0, or the loss is non-finite and takes a log."""

    id = "log_of_nonpositive"
    op = "log"
    graph_flag = "logs"
    op_words = "a torch.log (LogBackward0): its argument probably reached 0 or below"
    hint = (
        "Keep the log's argument positive: torch.log(x.clamp_min(1e-8)) or torch.log(x + 1e-8); "
        "for log(softmax(x)) use F.log_softmax(x, dim=1)."
    )

    def is_bad(self, operand):
        return operand.bad > 0

    def describe(self, operand):
        return (f"{operand.bad} of {operand.numel} log arguments are <= 0 (smallest "
                f"{operand.minimum:.3g})")
