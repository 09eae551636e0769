"""The NaN-origin search: where a step's first NaN/Inf appeared, in execution order (the input
batch, a module's output, the loss, a module's backward), found by re-running that step's forward
and backward on its kept batch with hooks on every module.

It runs only at a step already found non-finite, and leaves the model as it was: buffers
(BatchNorm's running statistics) are restored, the RNG state is forked, gradients are taken with
torch.autograd.grad (no parameter's .grad changes). The root module's `forward` is called
directly, so hooks on the root (the watch's own) do not run; hooks on submodules (the user's) do.
"""

import contextlib
import math
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch

from tb_lossdiag import stats as S
from tb_lossdiag.graph import describe_loss
from tb_lossdiag.watch.inputs import InputProbe
from tb_lossdiag.watch.record import StepRecord

_MAX_DEPTH = 4  # levels of tuples, lists and dicts searched for tensors in arguments and outputs
_WRAPPERS = ("OptimizedModule", "DistributedDataParallel", "DataParallel")
# Modules whose forward calls a torch.distributed collective: a re-run on one rank would hang.
_COLLECTIVE_MODULES = ("FullyShardedDataParallel", "SyncBatchNorm", "FSDP")


class _Call(NamedTuple):
    """One module call of the re-run, with what the search reads of it."""

    name: str  # module path ("" for the root)
    kind: str  # module class
    parent: int  # index (in call order) of the enclosing call; -1 for the root
    inputs: Tuple[torch.Tensor, ...]  # floating tensor arguments
    outputs: Tuple[torch.Tensor, ...]  # floating tensors of the output
    own_parameters: Tuple[torch.Tensor, ...]  # the module's parameters, not its submodules'


def find_origin(model: torch.nn.Module, args: Sequence = (), kwargs: Optional[Dict[str, Any]] = None, *,
                loss=None, output_grads: Optional[Sequence[Optional[torch.Tensor]]] = None,
                autocast: Optional[Tuple[str, torch.dtype]] = None) -> Optional[S.NonfiniteOrigin]:
    """Where the first NaN/Inf of the step that called `model(*args, **kwargs)` appeared, or None
    when the re-run stays finite.

    `loss`: the step's loss (tensor or float), when known: a finite forward with a non-finite loss
    names the loss function. `output_grads`: the gradients the loss sent into the model's output
    tensors (in output order), when kept; otherwise ones stand in for them, which find a NaN made
    by the model's own backward. `autocast`: (device type, dtype) of the autocast the step's
    forward ran under. Call it before optimizer.step() applies the step's gradients: with weights
    already NaN/Inf the answer is None. Costs one forward and one backward of the model and a few
    host transfers (the weights, the inputs, each pass); a model holding collectives (FSDP,
    SyncBatchNorm) gets the input check only.
    """
    model = _unwrapped(model)
    kwargs = dict(kwargs or {})
    if not S.all_finite(list(model.parameters())):
        return None  # weights already NaN/Inf (called after optimizer.step()): the birthplace is gone
    bad_input = _bad_input(model, args, kwargs)
    if bad_input is not None:
        return S.NonfiniteOrigin("input", bad_input.name, _input_detail(bad_input))
    if (any(marker in type(m).__name__ for m in model.modules() for marker in _COLLECTIVE_MODULES)
            or any(S.replicas(p) is not None for p in model.parameters())):
        return None  # a re-run on one rank would enter collectives (FSDP2, tensor parallelism): a hang
    context = torch.autocast(autocast[0], dtype=autocast[1]) if autocast else contextlib.nullcontext()
    with _restored_buffers(model), torch.random.fork_rng(devices=_cuda_devices(model, args, kwargs)):
        with torch.enable_grad(), context:
            trace = _traced_forward(model, _detached(tuple(args)), _detached(kwargs))
        found = _forward_origin(trace)
        if found is not None:
            return found
        if loss is not None and not _finite_loss(loss):
            return _loss_origin(loss, "the model's output was finite, the loss was not")
        return _backward_origin(trace, output_grads, loss)


# -- the input batch -------------------------------------------------------------------------


def _bad_input(model, args, kwargs) -> Optional[S.InputStats]:
    """The first tensor argument holding NaN/Inf, counted by the inputs probe (one host transfer)."""
    probe, record = InputProbe(model), StepRecord(0, sampled=False)
    probe.check(record, tuple(args), kwargs)
    probe.read_held(record)
    values = S.to_host(record.tensors)
    return next((s for s in (entry.stats(values) for entry in record.inputs) if s.nonfinite), None)


def _input_detail(found: S.InputStats) -> str:
    """e.g. '2 NaN/Inf of 256 values; rows 3, 5 of 32; columns 2'."""
    parts = [f"{found.nonfinite} NaN/Inf of {math.prod(found.shape)} values"]
    if found.bad_rows:
        more = found.bad_row_count - len(found.bad_rows)
        rows = ", ".join(str(row) for row, _ in found.bad_rows) + (f" and {more} more" if more > 0 else "")
        parts.append(f"rows {rows} of {found.shape[0]}")
    if found.bad_columns:
        parts.append("columns " + ", ".join(str(column) for column, _ in found.bad_columns))
    return "; ".join(parts)


# -- the forward -----------------------------------------------------------------------------


class _Trace(NamedTuple):
    """The module calls of a re-run forward."""

    calls: List[_Call]  # in the order they started: the root's is calls[0]
    ended: List[int]  # their indices in the order they ended: the root's last
    finite: List[Tuple[bool, bool]]  # per call: (its inputs, its outputs) held no NaN/Inf as it ended


def _traced_forward(model, args, kwargs) -> _Trace:
    """Run the root's forward with every submodule call recorded; the finiteness of every call's
    inputs and outputs is taken as the call ends (in-place ops may change them later) and read in
    one host transfer at the end."""
    names = {id(m): name for name, m in model.named_modules()}
    started: Dict[int, Tuple[int, Tuple[torch.Tensor, ...]]] = {}  # call -> (parent, inputs)
    calls: Dict[int, _Call] = {}
    flags: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}  # call -> (inputs finite, outputs finite)
    ended: List[int] = []
    stack = [0]  # the calls under way, innermost last

    def before(module, call_args, call_kwargs):
        index = len(started) + 1
        started[index] = (stack[-1], _tensors((call_args, call_kwargs)))
        stack.append(index)

    def after(module, call_args, call_kwargs, output):
        index = stack.pop()
        parent, inputs = started[index]
        end(index, names[id(module)], module, parent, inputs, _tensors(output))

    def end(index, name, module, parent, inputs, outputs):
        calls[index] = _Call(name, type(module).__name__, parent, inputs, outputs,
                             tuple(p for p in module.parameters(recurse=False) if p.requires_grad))
        flags[index] = (_finite(inputs), _finite(outputs))
        ended.append(index)

    handles = []
    try:
        for module in model.modules():
            if module is not model:
                handles.append(module.register_forward_pre_hook(before, with_kwargs=True))
                handles.append(module.register_forward_hook(after, with_kwargs=True))
        output = model.forward(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    end(0, "", model, -1, _tensors((args, kwargs)), _tensors(output))
    values = S.to_host([flag for i in range(len(calls)) for flag in flags[i]])
    finite = [(bool(values[2 * i][0]), bool(values[2 * i + 1][0])) for i in range(len(calls))]
    return _Trace([calls[i] for i in range(len(calls))], ended, finite)


def _forward_origin(trace: _Trace) -> Optional[S.NonfiniteOrigin]:
    """The first call to end with a non-finite output. When its input was not finite either, the
    NaN came from the enclosing module's own code (an op that is no module) before that call; when
    the call's inner calls were all finite, from its own code too."""
    first = next((i for i in trace.ended if not trace.finite[i][1]), None)
    if first is None:
        return None
    before = ""
    if not trace.finite[first][0] and trace.calls[first].parent >= 0:
        before = f", before it called {trace.calls[first].name!r}"
        first = trace.calls[first].parent
    call = trace.calls[first]
    source = "finite" if trace.finite[first][0] else "not finite"
    own = "; made by its own code (no submodule)" if before or _has_inner(trace.calls, first) else ""
    return S.NonfiniteOrigin("module", call.name, f"{call.kind}; its input was {source}{own}{before}")


# -- the loss and the backward ---------------------------------------------------------------


def _finite_loss(loss) -> bool:
    """Whether a loss tensor or number holds no NaN/Inf (one host read)."""
    if isinstance(loss, torch.Tensor):
        return bool(torch.isfinite(loss.detach()).all())
    return math.isfinite(float(loss))


def _loss_origin(loss, why: str) -> S.NonfiniteOrigin:
    """The loss function (as its graph names it) made the first NaN/Inf."""
    graph = describe_loss(loss)
    ops = [op for op, present in (("a log", graph.logs), ("a division", graph.divides)) if present]
    node = getattr(loss, "grad_fn", None)
    name = graph.loss_fn or (node.name() if node is not None else "loss")
    return S.NonfiniteOrigin("loss", name, why + (f"; its graph holds {' and '.join(ops)}" if ops else ""))


def _backward_origin(trace: _Trace, output_grads, loss) -> Optional[S.NonfiniteOrigin]:
    """The first call, in backward order, whose output's gradient is finite but whose inputs',
    own parameters' or inner calls' outputs' gradients are not; the innermost such call."""
    root = trace.calls[0]
    differentiable = [k for k, t in enumerate(root.outputs) if t.requires_grad]
    if not differentiable:
        return None
    given = {k: g for k, (g, out) in enumerate(zip(output_grads or (), root.outputs))
             if g is not None and g.shape == out.shape}  # one of another shape is ignored
    upstream = [given[k] if k in given else torch.ones_like(root.outputs[k]) for k in differentiable]
    if given and not S.all_finite(upstream):
        return _loss_origin(loss, "the model's output was finite, the gradient the loss sent back into it was not")
    targets: Dict[int, torch.Tensor] = {}
    for call in trace.calls:
        for t in call.inputs + call.outputs + call.own_parameters:
            if t.requires_grad:
                targets.setdefault(id(t), t)
    keys = list(targets)
    grads = torch.autograd.grad([root.outputs[k] for k in differentiable], [targets[k] for k in keys],
                                upstream, allow_unused=True)
    flags = S.to_host([_finite([g]) if g is not None else torch.tensor(True) for g in grads])
    bad = {key for key, flag in zip(keys, flags) if not flag[0]}

    def any_bad(tensors) -> bool:
        return any(id(t) in bad for t in tensors)

    holds_bad = set()  # calls one of whose inner calls got a non-finite gradient at its output
    for call in trace.calls:
        if any_bad(call.outputs):
            parent = call.parent
            while parent >= 0 and parent not in holds_bad:
                holds_bad.add(parent)
                parent = trace.calls[parent].parent
    chosen = None
    for i in reversed(trace.ended):  # backward order; a call's inner calls follow it at once
        if chosen is not None and not _inside(trace.calls, i, chosen):
            break
        call = trace.calls[i]
        if not any_bad(call.outputs) and (any_bad(call.inputs + call.own_parameters) or i in holds_bad):
            chosen = i
    if chosen is None:
        return None
    call = trace.calls[chosen]
    own = "; by its own code (no submodule)" if _has_inner(trace.calls, chosen) else ""
    return S.NonfiniteOrigin("backward", call.name, f"{call.kind}{own}; the gradient at its output was finite")


# -- helpers ---------------------------------------------------------------------------------


def _has_inner(calls: List[_Call], i: int) -> bool:
    """Whether call `i` called other modules."""
    return any(call.parent == i for call in calls)


def _inside(calls: List[_Call], i: int, outer: int) -> bool:
    """Whether call `i` ran inside call `outer`."""
    while i >= 0:
        i = calls[i].parent
        if i == outer:
            return True
    return False


def _tensors(value, depth: int = _MAX_DEPTH) -> Tuple[torch.Tensor, ...]:
    """The floating tensors of an argument list or an output, a few levels into tuples, lists, dicts."""
    if isinstance(value, torch.Tensor):
        return (value,) if value.is_floating_point() or value.is_complex() else ()
    if depth == 0:
        return ()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return tuple(t for v in value for t in _tensors(v, depth - 1))
    return ()


def _detached(value, depth: int = _MAX_DEPTH):
    """`value` with its tensors detached, a few levels into tuples, lists and dicts: a state carried
    over from the last step (an RNN's hidden state) brings no graph already freed into the re-run."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if depth == 0:
        return value
    if type(value) is dict:
        return {k: _detached(v, depth - 1) for k, v in value.items()}
    if type(value) in (tuple, list):
        return type(value)(_detached(v, depth - 1) for v in value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(_detached(v, depth - 1) for v in value))
    return value  # other containers are passed as they are


def _finite(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """A bool scalar on the first tensor's device: no tensor holds NaN/Inf (device ops, no sync)."""
    # A sparse gradient (nn.Embedding(sparse=True)) is finite when its stored values are.
    # S.local: a DTensor's shard on this rank (a DTensor op could redistribute: a collective).
    checks = [torch.isfinite(t._values() if t.is_sparse else t).all() for t in S.local(tensors)]
    if not checks:
        return torch.tensor(True)
    device = checks[0].device
    return torch.stack([c.to(device) for c in checks]).all()


def _unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    """The module a torch.compile or (Distributed)DataParallel wrapper holds: no compile, no
    replicas, no DDP reducer hooks in the re-run."""
    for attribute in ("_orig_mod", "module"):
        inner = getattr(model, attribute, None)
        if type(model).__name__ in _WRAPPERS and isinstance(inner, torch.nn.Module):
            model = inner
    return model


def _cuda_devices(model, args, kwargs) -> List[int]:
    """The CUDA devices whose RNG state the re-run may draw from (dropout)."""
    tensors = list(model.parameters()) + list(model.buffers()) + list(_tensors((args, kwargs)))
    return sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})


@contextlib.contextmanager
def _restored_buffers(model: torch.nn.Module):
    """Put back every buffer the re-run changed (BatchNorm's running statistics and counts).
    Costs one copy of the model's buffers."""
    saved = [(module, name, buf, buf.clone())
             for module in model.modules() for name, buf in module.named_buffers(recurse=False)]
    try:
        yield
    finally:
        with torch.no_grad():
            for module, name, buf, copy in saved:
                if getattr(module, name, None) is not buf:
                    setattr(module, name, buf)
                # Unconditional: batch_norm updates its running statistics without a version bump.
                buf.copy_(copy)
