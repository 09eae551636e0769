"""Batch files: the inputs of a non-finite step that watch(guard=...) keeps, saved and described."""

from typing import Any, List, Tuple

import torch

_SHOWN = 8  # row and column indices listed before "and N more"


def portable(value: Any) -> Any:
    """`value` (a forward's arguments) as torch.load(weights_only=True) reads it back: tensors
    detached on the CPU, containers kept, any other object as its repr."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (list, tuple)):
        return [portable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): portable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def nbytes(value: Any) -> int:
    """Bytes of the tensors in `value` (a portable structure)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    return 0


def save(path: str, payload: dict) -> None:
    """Write a batch file: {"step", "reason", "forwards": [{"args", "kwargs"}], "target", "indices"}
    (portable values; indices: per forward, the batch's sample indices, with watch(loader=...))."""
    torch.save(payload, path)


def load(path: str) -> dict:
    """A batch file's payload, its tensors on the CPU (weights_only: loading runs no code)."""
    what = "is not a tb_lossdiag batch file (watch(guard=True) writes them as <run>/lossdiag/batch-<step>.pt)"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as error:  # the unpickler raises whatever the bytes lead it to (KeyError, UnpicklingError, ...)
        raise ValueError(f"{path} {what}: {type(error).__name__}: {error}") from error
    if not isinstance(payload, dict) or "forwards" not in payload:
        raise ValueError(f"{path} {what}")
    return payload


def tensors(payload: dict) -> List[Tuple[str, torch.Tensor]]:
    """(name, tensor) of every tensor in a payload: 'args[0]', "kwargs['mask']", 'target'; a
    step with several forwards (gradient accumulation) prefixes 'forward N '."""
    found: List[Tuple[str, torch.Tensor]] = []
    forwards = payload["forwards"]
    for number, forward in enumerate(forwards):
        prefix = f"forward {number} " if len(forwards) > 1 else ""
        _walk(f"{prefix}args", forward["args"], found)
        _walk(f"{prefix}kwargs", forward["kwargs"], found)
    if payload.get("target") is not None:
        _walk("target", payload["target"], found)
    return found


def _walk(name: str, value: Any, found: List[Tuple[str, torch.Tensor]]) -> None:
    if isinstance(value, torch.Tensor):
        found.append((name, value))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(f"{name}[{i}]", v, found)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(f"{name}[{k!r}]", v, found)


def describe_tensor(name: str, tensor: torch.Tensor) -> str:
    """One line: name, dtype, shape; where NaN/Inf sit (rows: dim 0, columns: dim 1); the value range."""
    head = f"{name}: {str(tensor.dtype).replace('torch.', '')} {list(tensor.shape)}"
    if tensor.numel() == 0:
        return f"{head}, empty"
    if tensor.dtype == torch.bool:
        return f"{head}, {int(tensor.sum())} True"
    if tensor.is_complex():
        tensor = torch.view_as_real(tensor)
    x = tensor if tensor.is_floating_point() else tensor.to(torch.float64)
    finite = torch.isfinite(x)
    parts = []
    if not bool(finite.all()):
        nan, inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
        parts.append(f"NaN {nan}, Inf {inf} of {x.numel()}")
        if x.dim() >= 1:
            bad = ~finite
            rows = bad.reshape(bad.shape[0], -1).any(dim=1)
            parts.append(f"in rows {_indices(rows)}")
            if x.dim() >= 2:
                columns = bad.transpose(0, 1).reshape(bad.shape[1], -1).any(dim=1)
                parts.append(f"columns {_indices(columns)}")
    values = x[finite]
    if values.numel():
        low, high = values.min().item(), values.max().item()
        kind = "finite values" if parts else "values"
        parts.append(f"{kind} {low:.4g} .. {high:.4g}")
    else:
        parts.append("no finite value")
    return f"{head}, " + ", ".join(parts)


def describe(path: str) -> str:
    """What a batch file holds, one line per tensor (what `tb-lossdiag batch FILE` prints)."""
    payload = load(path)
    lines = [f"{path}: the batch of step {payload.get('step')} ({payload.get('reason', 'no reason recorded')})"]
    for number, indices in enumerate(payload.get("indices") or []):
        prefix = f"forward {number} " if len(payload["indices"]) > 1 else ""
        lines.append(f"  {prefix}sample indices: {indices if indices is not None else 'not known'}")
    found = tensors(payload)
    lines += [f"  {describe_tensor(name, tensor)}" for name, tensor in found]
    if not found:
        lines.append("  no tensors")
    if payload.get("target") is None:
        lines.append("  (no loss target: it is kept only when the loss tensor is logged before backward())")
    return "\n".join(lines)


def _indices(mask: torch.Tensor) -> str:
    """'3, 7 (2 of 32)' for a boolean vector; the first _SHOWN indices, then how many more."""
    hits = mask.nonzero().flatten().tolist()
    shown = ", ".join(str(i) for i in hits[:_SHOWN])
    more = f" and {len(hits) - _SHOWN} more" if len(hits) > _SHOWN else ""
    return f"{shown}{more} ({len(hits)} of {mask.numel()})"

