"""The parameters a loss tensor trains, read from its autograd graph: its AccumulateGrad leaves
(node.variable), in the order backward reaches them, each with the op that takes it. No nn.Module
is reached this way (a graph holds ops and tensors, not modules), so names are made up from what
the graph shows: "param 3 (64x32, via AddmmBackward0)"."""

import collections
from typing import Any, Dict, List, NamedTuple

from tb_lossdiag.graph import passes_through

_SIGNATURE_NODES = 12  # nodes below the root a graph's signature looks at
# A multi-layer nn.LSTM/GRU on CPU runs one fused op per layer; cuDNN runs one for all: its layers,
# met one after the other, are one "layer" here, as the module is one layer for watch().
_RNN_LAYER_OP = "MkldnnRnnLayerBackward"


class Leaf(NamedTuple):
    """One parameter of a graph: its AccumulateGrad node and the op that takes it."""

    node: Any  # the AccumulateGrad node (torch.autograd.graph.Node); node.variable is the parameter
    op: str  # e.g. "AddmmBackward0", looked through shape and dtype ops (TBackward0, ToCopyBackward0)
    layer: int  # index of that op among the graph's parameter-taking ops: its parameters' "layer"


def leaves(root) -> List[Leaf]:
    """The AccumulateGrad leaves under `root`, first reached by backward first.

    Backward runs a node once every node feeding it ran, the most recently created (highest
    sequence number) first, and a leaf right after its last consumer: leaves are ordered by their
    consumers' lowest sequence number, descending. One walk over the whole graph.
    """
    last_use: Dict[Any, int] = {}  # leaf -> lowest sequence number of the nodes it feeds
    taken_by: Dict[Any, Any] = {}  # leaf -> the op taking it (the first one found)
    seen = {root}
    stack = [(root, root)]  # (node, the op above it, looked through shape/dtype ops)
    while stack:
        node, op = stack.pop()
        owner = op if passes_through(node) else node
        sequence = node._sequence_nr()
        for child, _ in node.next_functions:
            if child is None:
                continue
            if hasattr(child, "variable"):
                taken_by.setdefault(child, owner)
                last_use[child] = min(sequence, last_use.get(child, sequence))
            elif child not in seen:
                seen.add(child)
                stack.append((child, owner))
    found = sorted(last_use, key=lambda leaf: -last_use[leaf])  # stable: ties keep the walk's order
    result: List[Leaf] = []
    layer_of: Dict[Any, int] = {}
    for leaf in found:
        op = taken_by[leaf].name()
        previous = result[-1] if result else None
        if previous is not None and op.startswith(_RNN_LAYER_OP) and previous.op.startswith(_RNN_LAYER_OP):
            layer_of.setdefault(taken_by[leaf], previous.layer)
        result.append(Leaf(leaf, op, layer_of.setdefault(taken_by[leaf], len(set(layer_of.values())))))
    return result


def signature(root) -> tuple:
    """A cheap key of a graph: its root op and the AccumulateGrad nodes among the first nodes below
    it (a new output head shows there). Nodes the watcher holds keep their ids across steps."""
    ids = []
    queue = collections.deque([root])
    for _ in range(_SIGNATURE_NODES):
        if not queue:
            break
        for child, _ in queue.popleft().next_functions:
            if child is None:
                continue
            if hasattr(child, "variable"):
                ids.append(id(child))
            else:
                queue.append(child)
    return (root.name(), tuple(ids))


def param_name(index: int, shape, op: str) -> str:
    """'param 3 (64x32, via AddmmBackward0)': a parameter named by what its graph shows."""
    size = "x".join(str(d) for d in shape) or "scalar"
    return f"param {index} ({size}, via {op})"
