"""Facts read from a loss tensor's autograd graph: which loss function made it, and what fed it.

Reading `grad_fn` names and non-tensor saved values touches no tensor data, so it costs no host
sync; it also works after `backward()` has freed the saved tensors. Between the loss function and
what feeds it, and between the logged value and the loss function, real code reshapes, selects,
casts and scales: those ops are looked through (see `passes_through`).
"""

import dataclasses
import re
from typing import List, Optional, Tuple

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
# Ops that reshape, copy, select or cast values and change none of them, named without their
# overload number (SqueezeBackward0/1/2): `.view`, `.reshape`, `.flatten`, `.transpose`, `.permute`,
# `.contiguous`, `.squeeze`, `.unsqueeze`, `.expand`, `.float()` / `.to(dtype)`, `x[mask]`,
# `x[:, -1]`, `x[1:]`, `gather`, `index_select`, `masked_select`, `split`, `unbind`.
_SHAPE_DTYPE_INDEX = {
    "ViewBackward", "UnsafeViewBackward", "ReshapeAliasBackward", "AliasBackward", "TransposeBackward",
    "TBackward", "PermuteBackward", "CloneBackward", "SqueezeBackward", "UnsqueezeBackward",
    "ExpandBackward", "ToCopyBackward", "IndexBackward", "MaskedSelectBackward", "SelectBackward",
    "SliceBackward", "GatherBackward", "IndexSelectBackward", "SplitBackward",
    "SplitWithSizesBackward", "UnbindBackward",
}
# Multiplication or division by a constant, i.e. by an operand without a gradient (`loss / 4`,
# `0.5 * bce`, `probs * mask`); the overloads numbered 1 take a Python number.
_SCALING = {"MulBackward", "DivBackward"}
_MAX_THROUGH = 32  # ops looked through in a row: a bound on the walk, far above real code's few


@dataclasses.dataclass(frozen=True)
class LossGraph:
    """What the graph says about a loss tensor."""

    loss_fn: Optional[str] = None  # e.g. "nll_loss", "cross_entropy", "mse_loss"
    nonnegative: bool = False  # every loss term is of a function that cannot be negative, unscaled
    input_op: Optional[str] = None  # node feeding the loss function (for cross_entropy: its log_softmax)
    # ops between input_op and the loss function that only reshape, select, cast or scale
    input_through: Tuple[str, ...] = ()
    # (input shape, broadcast shape) when the loss's input was expanded to a target's shape
    broadcast: Optional[Tuple[Tuple[int, ...], Tuple[int, ...]]] = None
    # a division by a tensor (MAPE's / y), or a sum divided into a mean (a masked mean's
    # sum / mask.sum()); not a reduced loss scaled by a constant (`loss / accumulation_steps`)
    divides: bool = False
    logs: bool = False  # a torch.log / log2 / log10 near the root
    # ops anywhere in the graph whose forward can make NaN/Inf of finite operands (a division by a
    # tensor, a log, a sqrt, an exp...): with none, a NaN loss from finite weights came in with the
    # data. None: not read (a whole-graph walk: with_makers() reads them for a non-finite loss only)
    makers: Optional[Tuple[str, ...]] = None


def _name(node) -> str:
    return node.name() if node is not None else ""


def _kind(node) -> str:
    """The node's name without its overload number: "SqueezeBackward1" -> "SqueezeBackward"."""
    return re.sub(r"\d+$", "", _name(node))


def _inputs(node):
    return [n for n, _ in node.next_functions if n is not None]


def passes_through(node) -> bool:
    """Whether `node` hands its one differentiable input on unchanged in meaning: a shape, dtype
    or indexing op, or a multiplication or division by a constant."""
    kind = _kind(node)
    if kind not in _SHAPE_DTYPE_INDEX and kind not in _SCALING:
        return False
    return len(_inputs(node)) == 1


def _feeder(node) -> Tuple[Optional[object], Tuple[str, ...]]:
    """(the node whose output feeds `node`'s first input, looked through, the ops looked through)."""
    inputs = _inputs(node)
    current = inputs[0] if inputs else None
    through: List[str] = []
    while current is not None and len(through) < _MAX_THROUGH and passes_through(current):
        through.append(_name(current))
        current = _inputs(current)[0]
    return current, tuple(through)


def _loss_nodes(root, limit=8):
    """(the loss-function nodes under `root`, the other ops met, whether a scaling was met),
    looking through sign-keeping reductions and through shape, dtype, indexing and scaling ops."""
    found, others, scaled, stack, walked = [], 0, False, [root], 0
    while stack and limit > 0 and walked < 4 * _MAX_THROUGH:
        walked += 1
        node = stack.pop()
        if _name(node) in _LOSS_NODES:
            found.append(node)
        elif _name(node) in _SIGN_KEEPING:
            limit -= 1
            stack.extend(_inputs(node))
        elif passes_through(node):
            scaled = scaled or _kind(node) in _SCALING
            stack.extend(_inputs(node))
        else:
            limit -= 1
            others += 1
    return found, others, scaled


def describe_loss(tensor) -> LossGraph:
    """The LossGraph of `tensor` (an empty one when it has no graph)."""
    root = getattr(tensor, "grad_fn", None)
    if root is None:
        return LossGraph()
    divides, logs, manual_broadcast = _scan(root)
    nodes, others, scaled = _loss_nodes(root)
    if not nodes or len(nodes) > 1 and others:
        return LossGraph(broadcast=manual_broadcast, divides=divides, logs=logs)
    node = nodes[0]
    loss_fn = _LOSS_NODES[_name(node)][0]
    inputs = _inputs(node)
    direct = inputs[0] if inputs else None  # the loss's own broadcast is its first node
    input_node, through = _feeder(node)
    if loss_fn == "nll_loss" and _name(input_node) == "LogSoftmaxBackward0":
        # nn.CrossEntropyLoss is log_softmax followed by nll_loss.
        loss_fn = "cross_entropy"
        input_node, through = _feeder(input_node)
    broadcast = manual_broadcast
    if _name(direct) == "ExpandBackward0":
        original = tuple(int(d) for d in direct._saved_self_sym_sizes)  # type: ignore[union-attr]  # named ExpandBackward0: not None
        broadcast = (original, _output_shape(direct, original))
    return LossGraph(
        loss_fn=loss_fn,
        nonnegative=others == 0 and not scaled and all(_LOSS_NODES[_name(n)][1] for n in nodes),
        input_op=_name(input_node) or None,
        input_through=through,
        broadcast=broadcast,
        divides=divides,
        logs=logs,
    )


def with_makers(graph: LossGraph, tensor) -> LossGraph:
    """`graph` (describe_loss(tensor)'s) with the makers of `tensor`'s graph read (as it is without one)."""
    root = getattr(tensor, "grad_fn", None)
    return graph if root is None else dataclasses.replace(graph, makers=_makers(root))


_LOGS = {"LogBackward0", "Log2Backward0", "Log10Backward0"}
_ELEMENTWISE_PAIRS = {"SubBackward0", "AddBackward0", "RsubBackward0"}
# A model's weight layers (linear, matmul, convolution, embedding): where the loss expression ends.
# Divisions inside the model (attention's scores / sqrt(d)) are no loss's denominator.
_WEIGHT_LAYERS = {"AddmmBackward", "MmBackward", "BmmBackward", "BaddbmmBackward", "LinearBackward",
                  "ConvolutionBackward", "EmbeddingBackward"}


def _scan(root, limit=16):
    """(divides, logs, broadcast) from the `limit` nodes nearest the root of a hand-written loss,
    the ops looked through (passes_through) not counted, not below a weight layer."""
    divides = logs = False
    broadcast = None
    seen, counted, queue = set(), 0, [root]
    while queue and counted < limit and len(seen) < 4 * _MAX_THROUGH:
        node = queue.pop(0)
        if id(node) in seen:
            continue
        seen.add(id(node))
        name = _name(node)
        counted += not passes_through(node)
        divides = divides or name == "DivBackward0" and not _scales_a_loss(node)
        logs = logs or name in _LOGS
        if broadcast is None and name in _ELEMENTWISE_PAIRS:
            broadcast = _pair_broadcast(node)
        if _kind(node) not in _WEIGHT_LAYERS:
            queue.extend(_inputs(node))
    return divides, logs, broadcast


# Ops whose forward can turn finite operands into NaN or Inf (at 0, below 0, outside [-1, 1], or
# by overflow), named without their overload number; a cast too (autocast's float16 overflows past
# 65504). Not: the loss functions (cross_entropy and BCE are computed stably; BCE clamps its logs),
# softmax, normalization layers (their eps).
_MAKERS = {
    "ToCopyBackward",
    "DivBackward", "ReciprocalBackward", "LogBackward", "Log2Backward", "Log10Backward", "Log1pBackward",
    "SqrtBackward", "RsqrtBackward", "PowBackward", "ExpBackward", "Exp2Backward", "Expm1Backward",
    "AcosBackward", "AsinBackward", "AtanhBackward", "AcoshBackward", "TanBackward", "LogitBackward",
    "LgammaBackward", "DigammaBackward", "PolygammaBackward", "MvlgammaBackward", "ErfinvBackward",
    "XlogyBackward", "ProdBackward", "CumprodBackward",
}
_MAX_NODES = 4096  # a bound on the whole-graph walk: far above a small model's, a cut for a huge one


def _makers(root) -> Tuple[str, ...]:
    """The kinds of `_MAKERS` anywhere in the graph (a scaling of a reduced loss by a constant not
    counted), sorted; node names only, so it works after backward() freed the saved tensors."""
    found, seen, stack = set(), {id(root)}, [root]
    while stack and len(seen) < _MAX_NODES:
        node = stack.pop()
        kind = _kind(node)
        if kind in _MAKERS and not (kind == "DivBackward" and _scales_a_loss(node)):
            found.add(kind)
        for child in _inputs(node):
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return tuple(sorted(found))


def _scales_a_loss(node) -> bool:
    """Whether a DivBackward0 divides an already reduced loss by a constant (`loss / 4`), or a loss
    function's own values by their counts (CTCLoss's mean divides by the target lengths, clamped
    to >= 1).

    With backward() run, the graph no longer tells `/ 4` from `/ mask.sum()`, so the numerator
    decides: a sum is made into a mean by its count (which can be 0); a mean or a loss function's
    output is already one, and a division of it is a scaling. `|pred - y| / |y|` (MAPE) divides
    an expression, not a loss function.
    """
    inputs = _inputs(node)
    if len(inputs) != 1:
        return False
    if _name(inputs[0]) in _LOSS_NODES and _name(inputs[0]) != "AbsBackward0":
        return True
    if _output_shape(node, None) != ():
        return False
    return _kind(inputs[0]) != "SumBackward"


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
