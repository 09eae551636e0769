"""division_by_zero: a division whose denominator is zero or near zero (the missing eps)."""

import dataclasses

from tb_lossdiag.detectors._model import OperandCheck


class DivisionByZero(OperandCheck):
    """Fires when a measured denominator is ~0, or the loss is non-finite and its graph divides."""

    id = "division_by_zero"
    op = "div"
    graph_flag = "divides"
    op_words = "a division (DivBackward0): a denominator, e.g. a mask.sum() or a count, was probably 0"
    hint = (
        "Add an eps to the denominator: x / (y + 1e-8) (x / y.abs().clamp_min(1e-8) for signed y); "
        "for MAPE-like losses mask or drop the zero targets."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        near_zero: float = 1e-10  # |denominator| below this counts as zero (1e-8 eps fixes pass)

    def is_bad(self, operand):
        return operand.bad > 0 or operand.minimum < self.thresholds.near_zero

    def describe(self, operand):
        return (f"{operand.bad} of {operand.numel} denominators are 0 (smallest |denominator| "
                f"{operand.minimum:.3g})")
