"""Facts read from a loss tensor's autograd graph: which loss function made it, and what fed it.

Reading `grad_fn` names and non-tensor saved values touches no tensor data, so it costs no host
sync; it also works after `backward()` has freed the saved tensors.
"""

import dataclasses
from typing import Optional, Tuple

# autograd node name -> (loss function, cannot be negative)
_LOSS_NODES = {
    "NllLossBackward0": ("nll_loss", True),
    "NllLoss2DBackward0": ("nll_loss", True),
    "MseLossBackward0": ("mse_loss", True),
    "L1LossBackward0": ("l1_loss", True),
    "SmoothL1LossBackward0": ("smooth_l1_loss", True),
    "HuberLossBackward0": ("huber_loss", True),
    "BinaryCrossEntropyBackward0": ("binary_cross_entropy", True),
    "BinaryCrossEntropyWithLogitsBackward0": ("binary_cross_entropy_with_logits", True),
    "SoftMarginLossBackward0": ("soft_margin_loss", True),
    "MultiMarginLossBackward0": ("multi_margin_loss", True),
    "MultilabelMarginLossBackward0": ("multilabel_margin_loss", True),
    "CtcLossBackward0": ("ctc_loss", True),
    "AbsBackward0": ("l1_loss", True),  # F.l1_loss is abs(input - target).mean()
}
# Nodes that reduce or sum losses without changing their sign.
_SIGN_KEEPING = {"MeanBackward0", "MeanBackward1", "SumBackward0", "SumBackward1", "AddBackward0"}
# Scaling by a constant (`loss / accumulation_steps`): the loss function is still known, its sign not.
_SCALING = {"MulBackward0", "DivBackward0"}


@dataclasses.dataclass(frozen=True)
class LossGraph:
    """What the graph says about a loss tensor."""

    loss_fn: Optional[str] = None  # e.g. "nll_loss", "cross_entropy", "mse_loss"
    nonnegative: bool = False  # every loss term is of a function that cannot be negative
    input_op: Optional[str] = None  # node feeding the loss function (for cross_entropy: its log_softmax)
    # (input shape, broadcast shape) when the loss's input was expanded to a target's shape
    broadcast: Optional[Tuple[Tuple[int, ...], Tuple[int, ...]]] = None
    # a division by a tensor (MAPE's / y), or a loss that ends in a division (a masked mean's
    # sum / mask.sum()); `loss / accumulation_steps` looks alike once backward() freed the operand
    divides: bool = False
    logs: bool = False  # a torch.log / log2 / log10 near the root


def _name(node) -> str:
    return node.name() if node is not None else ""


def _inputs(node):
    return [n for n, _ in node.next_functions if n is not None]


def _loss_nodes(root, limit=8):
    """The loss-function nodes under `root`, looking only through sign-keeping reductions."""
    found, others, stack = [], 0, [root]
    while stack and limit > 0:
        limit -= 1
        node = stack.pop()
        if _name(node) in _LOSS_NODES:
            found.append(node)
        elif _name(node) in _SIGN_KEEPING:
            stack.extend(_inputs(node))
        elif _name(node) in _SCALING and len(_inputs(node)) == 1:
            others += 1
            stack.extend(_inputs(node))
        else:
            others += 1
    return found, others


def describe_loss(tensor) -> LossGraph:
    """The LossGraph of `tensor` (an empty one when it has no graph)."""
    root = getattr(tensor, "grad_fn", None)
    if root is None:
        return LossGraph()
    divides, logs, manual_broadcast = _scan(root)
    nodes, others = _loss_nodes(root)
    if not nodes or len(nodes) > 1 and others:
        return LossGraph(broadcast=manual_broadcast, divides=divides, logs=logs)
    node = nodes[0]
    loss_fn = _LOSS_NODES[_name(node)][0]
    feeders = _inputs(node)
    input_node = feeders[0] if feeders else None
    if loss_fn == "nll_loss" and _name(input_node) == "LogSoftmaxBackward0":
        # nn.CrossEntropyLoss is log_softmax followed by nll_loss.
        loss_fn = "cross_entropy"
        inner = _inputs(input_node)
        input_node = inner[0] if inner else None
    broadcast = manual_broadcast
    if _name(input_node) == "ExpandBackward0":
        original = tuple(int(d) for d in input_node._saved_self_sym_sizes)
        broadcast = (original, _output_shape(input_node, original))
    return LossGraph(
        loss_fn=loss_fn,
        nonnegative=others == 0 and all(_LOSS_NODES[_name(n)][1] for n in nodes),
        input_op=_name(input_node) or None,
        broadcast=broadcast,
        divides=divides,
        logs=logs,
    )


_LOGS = {"LogBackward0", "Log2Backward0", "Log10Backward0"}
_ELEMENTWISE_PAIRS = {"SubBackward0", "AddBackward0", "RsubBackward0"}


def _scan(root, limit=16):
    """(divides, logs, broadcast) from the nodes nearest the root of a hand-written loss."""
    divides = logs = False
    broadcast = None
    seen, queue = set(), [root]
    while queue and len(seen) < limit:
        node = queue.pop(0)
        if id(node) in seen:
            continue
        seen.add(id(node))
        name = _name(node)
        # At the root the denominator can be a constant (`/ 4`) or data (`/ mask.sum()`): with
        # backward() run, the graph no longer tells them apart, and only a non-finite loss asks.
        divides = divides or name == "DivBackward0"
        logs = logs or name in _LOGS
        if broadcast is None and name in _ELEMENTWISE_PAIRS:
            broadcast = _pair_broadcast(node)
        queue.extend(_inputs(node))
    return divides, logs, broadcast


def _pair_broadcast(node):
    """(input shape, output shape) when `pred - y` turned [N, 1] and [N] into an [N, N] matrix."""
    feeders = [n for n, _ in node.next_functions]
    if len(feeders) != 2 or sum(f is None for f in feeders) != 1:
        return None  # both sides differentiable: a deliberate pairwise computation
    differentiable = next(f for f in feeders if f is not None)
    try:
        out = tuple(int(d) for d in node._input_metadata[0].shape)
        if _name(differentiable) == "ExpandBackward0":  # F.l1_loss broadcasts before it subtracts
            shape = tuple(int(d) for d in differentiable._saved_self_sym_sizes)
        else:
            shape = tuple(int(d) for d in differentiable._input_metadata[0].shape)
    except (AttributeError, IndexError, TypeError):
        return None
    n = out[0] if len(out) == 2 and out[0] == out[1] and out[0] > 1 else None
    if n is not None and shape in ((n, 1), (n,)):
        return shape, out
    return None


def _output_shape(node, default):
    """The shape of `node`'s forward output, from its input metadata (kept after backward)."""
    try:
        return tuple(int(d) for d in node._input_metadata[0].shape)
    except (AttributeError, IndexError, TypeError):
        return default
