"""The operands probe: the smallest denominator of each division and the smallest argument of
each log in the autograd graph, read from the tensors the nodes saved for backward."""

from typing import NamedTuple, Optional, Set

import torch

from tb_lossdiag import stats as S

_DIVISIONS = {"DivBackward0": ("div", "_saved_other")}
_LOGS = {name: ("log", "_saved_self") for name in ("LogBackward0", "Log2Backward0", "Log10Backward0")}
_OPERAND_NODES = {**_DIVISIONS, **_LOGS}
# Nodes read between a logged loss and the model output: on sampled steps, and when the loss is
# not finite.
LOSS_SIDE_NODES = 32
MODEL_SIDE_NODES = 128  # nodes read below the model output, on sampled steps


class OperandEntry(NamedTuple):
    """One division or log found in the graph, and the slot of its operand's statistics."""

    op: str  # "div" or "log"
    node: str  # autograd node name
    where: str  # "loss" or "model"
    numel: int
    slot: int  # S.operand_stats

    def stats(self, values) -> S.OperandStats:
        minimum, bad = values[self.slot]
        return S.OperandStats(self.op, self.node, self.where, self.numel, minimum=minimum, bad=int(bad))


def read_operands(record, root, where: str, limit: int, stop: Optional[int] = None) -> None:
    """Queue min |denominator| / min log argument of the divisions and logs among the first `limit`
    nodes under `root`, breadth first, not below the node whose id is `stop` (the model output)."""
    seen: Set[int] = set()
    queue = [root]
    while queue and len(seen) < limit:
        node = queue.pop(0)
        if node is None or id(node) in seen or id(node) == stop:
            continue
        seen.add(id(node))
        name = node.name()
        if name in _OPERAND_NODES:
            op, attribute = _OPERAND_NODES[name]
            try:
                operand = getattr(node, attribute)
            except RuntimeError:  # freed by backward(): the loss was logged after it
                operand = None
            if isinstance(operand, torch.Tensor) and operand.numel() > 0 and operand.is_floating_point():
                slot = record.add(S.operand_stats(operand, op))
                record.operands.append(OperandEntry(op, name, where, operand.numel(), slot))
        queue.extend(n for n, _ in node.next_functions)
