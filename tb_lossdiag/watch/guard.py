"""The guard, watch(guard=True | "stop"): a step whose loss or gradients hold NaN/Inf does not
change the weights, the optimizer state or the buffers its forward updated (BatchNorm statistics),
and the batch that did it is kept as <run>/lossdiag/batch-<step>.pt (see tb_lossdiag.batchfile)."""

import collections
import dataclasses
import math
import os
from typing import Any, Deque, Iterator, List, Optional, Set, Tuple

import torch

from tb_lossdiag import batchfile
from tb_lossdiag import stats as S
from tb_lossdiag.events import Event
from tb_lossdiag.watch.origin import find_origin
from tb_lossdiag.watch.record import first_tensor

_LOSS_SIDE_NODES = 32  # autograd nodes searched between the logged loss and the model output for its target

HINT = (
    "Find what made the step NaN/Inf: `tb-lossdiag batch FILE` shows where the NaN/Inf sit in the "
    "kept batch (a corrupt sample: fix or drop it; a log or division of 0: add an eps; gradients "
    "that overflow: clip them, lower the learning rate)."
)


@dataclasses.dataclass(frozen=True)
class GuardOptions:
    """watch()'s guard settings, checked."""

    stop: bool  # guard="stop": raise at the first non-finite step instead of skipping it
    max_skips: int  # steps skipped in a row after which training stops
    keep_batches: int  # batch files kept per run
    keep_bytes: int  # tensor bytes kept in batch files per run


def options(guard, optimizer, scaler, max_skips, keep_batches, keep_mb, loader) -> Optional[GuardOptions]:
    """watch()'s guard arguments checked before anything is hooked (a wrong one names the fix);
    None when the guard is off, or when an enabled GradScaler does the skipping."""
    if not (guard is True or guard is False or guard == "stop"):
        raise ValueError(f"guard must be True (skip a step whose loss or gradients are NaN/Inf), \"stop\" "
                         f"(raise before that step changes the weights) or False, got {guard!r}")
    if isinstance(max_skips, bool) or not isinstance(max_skips, int) or max_skips < 1:
        raise ValueError(f"max_skips must be a number of steps >= 1 (e.g. max_skips=10), got {max_skips!r}")
    if isinstance(keep_batches, bool) or not isinstance(keep_batches, int) or keep_batches < 0:
        raise ValueError(f"keep_batches must be a number of batch files >= 0 (0 keeps none), got {keep_batches!r}")
    if isinstance(keep_mb, bool) or not isinstance(keep_mb, (int, float)) or not keep_mb >= 0:
        raise ValueError(f"keep_mb must be a size in MB >= 0 (e.g. keep_mb=64), got {keep_mb!r}")
    if loader is not None:
        if guard is False:
            raise ValueError("watch(loader=...) names the samples of the batches guard=True keeps: pass guard=True too")
        if not isinstance(getattr(loader, "batch_sampler", None), torch.utils.data.BatchSampler):
            raise ValueError("watch(loader=...) needs a torch DataLoader made with batch_size (its batch_sampler a "
                             f"BatchSampler), got {type(loader).__name__}: leave loader out to keep batches without indices")
        if getattr(loader, "in_order", True) is False:
            raise ValueError("watch(loader=...) needs batches in the order drawn: a DataLoader with in_order=True")
    if guard is False:
        return None
    if optimizer is None:
        raise ValueError("watch(guard=...) needs the optimizer whose step() it skips: "
                         "writer.watch(model, optimizer, guard=True)")
    if scaler is not None and scaler.is_enabled():
        return None  # the scaler skips every step with inf/NaN gradients itself, before step() is called
    return GuardOptions(guard == "stop", max_skips, keep_batches, int(keep_mb * 2 ** 20))


class Guard:
    """Before each optimizer.step(): whether the step may change the weights; for a step that may
    not, undoes what it already changed (gradients, buffers) and keeps its batch."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, options: GuardOptions,
                 run_dir: str, loader=None):
        self._model = model
        self._optimizer = optimizer
        self._names = {id(p): name for name, p in model.named_parameters()}
        self._options = options
        self._run_dir = run_dir
        # In-place updates (BatchNorm's running statistics) keep these objects.
        self._buffers = list(model.buffers())
        self._saved: Optional[List[torch.Tensor]] = None  # the buffers before the step's first forward
        self._forwards: List[Tuple[Any, Any]] = []  # the step's training forwards' (args, kwargs): references
        self._sample_indices = SampleIndices(loader) if loader is not None else None
        self._indices: List[Optional[list]] = []  # per forward, the sample indices of the batch the loop had last
        self._loss: Optional[torch.Tensor] = None  # a non-finite loss logged before step()
        self._target: Optional[torch.Tensor] = None  # that loss's target, when autograd still held it
        self._autocast: Optional[Tuple[str, torch.dtype]] = None  # the autocast the step's forward ran under
        self._skipped = 0  # steps skipped in a row
        self._kept_files = 0
        self._kept_bytes = 0

    def before_forward(self, args, kwargs) -> None:
        """A training forward is about to run: hold its arguments; the step's first copies the buffers."""
        self._forwards.append((args, kwargs))
        if self._sample_indices is not None:
            self._indices.append(self._sample_indices.current)
        if self._saved is None:
            # One copy of every buffer per step (BatchNorm: 2 floats per channel and a counter), to
            # undo what a skipped step's forward did to them.
            self._saved = [b.detach().clone() for b in self._buffers]
            first = first_tensor(args) if args else first_tensor(kwargs)
            self._autocast = _autocast(first.device.type if first is not None else "cpu")

    def saw_loss(self, tensor: torch.Tensor, value: float, stop: Optional[int]) -> None:
        """A loss logged before step(): a non-finite one stops the step, and its target is kept
        if autograd still holds it (the loss logged before backward())."""
        if not math.isfinite(value):
            self._loss = tensor
            self._target = loss_target(tensor, stop)

    def check(self) -> Optional[str]:
        """Why the coming optimizer.step() must not change the weights, or None when the loss (if
        logged) and every gradient are finite. Reads one flag per device: a sync on an accelerator."""
        if self._loss is not None:
            return f"the loss is {self._loss.item()}"
        grads = self._gradients()
        if S.all_finite([g for _, g in grads]):
            self._skipped = 0
            return None
        bad = [self._names.get(id(p), "an unnamed parameter") for p, g in grads if not bool(torch.isfinite(g).all())]
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        return f"gradients of {len(bad)} of {len(grads)} parameters are NaN/Inf ({shown})"

    def origin(self) -> Optional[S.NonfiniteOrigin]:
        """Where this non-finite step's NaN/Inf was born, by re-running its forwards and backward
        on its batch (watch/origin.py: a forward and a backward of the model per forward held).
        Call it before skip(), while the weights are the step's."""
        for args, kwargs in self._forwards:
            found = find_origin(self._model, args, kwargs, loss=self._loss, autocast=self._autocast)
            if found is not None:
                return found
        return None

    def skip(self, step: int, reason: str) -> Tuple[List[Event], Optional[Event]]:
        """Undo the step (gradients dropped: every torch optimizer then leaves each parameter and
        its state alone; buffers restored) and keep its batch. Returns the events to record and
        the error to stop training with (guard="stop", or max_skips steps skipped in a row)."""
        for group in self._optimizer.param_groups:
            for p in group["params"]:
                p.grad = None
        restored = ""
        if self._saved is not None and self._buffers:
            with torch.no_grad():
                for buffer, saved in zip(self._buffers, self._saved):
                    buffer.copy_(saved)
            restored = ", the buffers its forward updated (BatchNorm statistics) restored"
        kept = self._keep(step, reason)
        self._skipped += 1
        o = self._options
        if o.stop:
            return [], _event(step, "guard_stop", "error",
                              f"training stopped at step {step} before optimizer.step(): {reason}; the weights "
                              f"and optimizer state are those after step {step - 1}{restored}; {kept}")
        skipped = _event(step, "skipped_step", "info",
                         f"optimizer.step() skipped at step {step}: {reason}; the weights and optimizer "
                         f"state are unchanged{restored}; {kept}", skipped=1.0, in_a_row=float(self._skipped))
        if self._skipped < o.max_skips:
            return [skipped], None
        first = step - self._skipped + 1
        return [skipped], _event(step, "guard_stop", "error",
                                 f"{self._skipped} steps in a row were skipped (steps {first}-{step}), the last "
                                 f"because {reason}: training stopped (watch(max_skips=...) sets how many)",
                                 in_a_row=float(self._skipped))

    def end_step(self) -> None:
        """The step ended: nothing of its batch is held past it."""
        self._saved = None
        self._forwards = []
        self._indices = []
        self._loss = None
        self._target = None
        self._autocast = None

    def remove(self) -> None:
        """Give the loader (watch(loader=...)) back as it was."""
        if self._sample_indices is not None:
            self._sample_indices.remove()

    def _gradients(self) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """(parameter, its gradient's values on this rank) of every parameter the optimizer holds that
        has a gradient: a DTensor's local shard (FSDP2), read with no communication."""
        pairs = [(p, g) for group in self._optimizer.param_groups for p in group["params"] if (g := p.grad) is not None]
        values = S.local([g for _, g in pairs])
        return [(p, v._values() if v.is_sparse else v) for (p, _), v in zip(pairs, values)]

    def _keep(self, step: int, reason: str) -> str:
        """Save the step's batch within the run's bounds: a phrase naming the file, or why it is not kept."""
        o = self._options
        if not self._forwards:
            return "no training forward of the model was seen in this step, so no batch is kept"
        if self._kept_files >= o.keep_batches:
            return (f"its batch is not kept: {self._kept_files} batch files kept already "
                    "(watch(keep_batches=...) keeps more)")
        size = batchfile.nbytes([self._forwards, self._target])  # before any copy to the host
        if self._kept_bytes + size > o.keep_bytes:
            return (f"its batch ({size / 2 ** 20:.1f} MB) is not kept: over the {o.keep_bytes / 2 ** 20:g} MB "
                    f"per run, {self._kept_bytes / 2 ** 20:.1f} MB kept already (watch(keep_mb=...) keeps more)")
        directory = os.path.join(self._run_dir, "lossdiag")
        path = os.path.join(directory, f"batch-{step}.pt")
        try:
            os.makedirs(directory, exist_ok=True)
            batchfile.save(path, {
                "step": step, "reason": reason,
                "forwards": [{"args": batchfile.portable(a), "kwargs": batchfile.portable(k)} for a, k in self._forwards],
                "target": batchfile.portable(self._target),
                "indices": batchfile.portable(self._indices) if self._sample_indices is not None else None,
            })
        except OSError as error:  # e.g. a full disk: the step is skipped all the same
            return f"its batch could not be saved ({error})"
        self._kept_files += 1
        self._kept_bytes += size
        return f"its batch is kept in {path} (see it: tb-lossdiag batch {path})"


class SampleIndices:
    """watch(loader=...): the sample indices of each batch the DataLoader hands the training loop.
    Its BatchSampler draws from a recording sampler (each batch_size indices one batch, in the
    order drawn, workers or not), and each of its iterators hands the oldest batch on with the
    data (batches come in the order drawn: in_order)."""

    def __init__(self, loader):
        self._loader = loader
        self._batch_sampler = loader.batch_sampler
        self._sampler = self._batch_sampler.sampler
        self._drawn: Deque[list] = collections.deque()  # index lists drawn, not handed out yet
        self.current: Optional[list] = None  # the indices of the batch the loop received last
        self._batch_sampler.sampler = _Recording(self._sampler, self._batch_sampler.batch_size, self._drawn)
        self._make = loader._get_iterator
        loader._get_iterator = self._iterator  # DataLoader.__iter__ calls self._get_iterator()

    def remove(self) -> None:
        self._batch_sampler.sampler = self._sampler
        if self._loader.__dict__.get("_get_iterator") == self._iterator:
            del self._loader._get_iterator

    def _iterator(self):
        iterator = self._make()
        next_data = iterator._next_data  # called once per batch handed out, after construction

        def handed_on():
            data = next_data()
            self.current = self._drawn.popleft() if self._drawn else None
            return data

        iterator._next_data = handed_on
        return iterator


class _Recording:
    """A sampler yielding what `sampler` yields, and putting each `batch_size` indices in `drawn`."""

    def __init__(self, sampler, batch_size: int, drawn: Deque[list]):
        self._sampler, self._batch_size, self._drawn = sampler, batch_size, drawn

    def __len__(self) -> int:
        return len(self._sampler)

    def __getattr__(self, name):  # set_epoch() and the like reach the sampler itself
        if name == "_sampler":
            raise AttributeError(name)
        return getattr(self._sampler, name)

    def __iter__(self) -> Iterator[Any]:
        self._drawn.clear()  # a new epoch: what the last one drew and never handed out is gone
        batch: list = []
        for index in self._sampler:
            batch.append(index)
            if len(batch) == self._batch_size:
                self._drawn.append(batch)
                batch = []
            yield index
        if batch:  # the last, smaller batch (drop_last=False hands it out)
            self._drawn.append(batch)


def loss_target(loss: torch.Tensor, stop: Optional[int]) -> Optional[torch.Tensor]:
    """The target a loss function saved for backward (nll_loss, mse_loss, l1_loss, ... save it),
    searched between `loss` and the model output's node (id `stop`); None when there is none, or
    when backward() has freed it."""
    queue: List[Any] = [loss.grad_fn]
    seen: Set[int] = set()
    while queue and len(seen) < _LOSS_SIDE_NODES:
        node = queue.pop(0)
        if node is None or id(node) in seen or id(node) == stop:
            continue
        seen.add(id(node))
        try:
            target = getattr(node, "_saved_target", None)
        except RuntimeError:  # freed by backward()
            return None
        if isinstance(target, torch.Tensor):
            return target.detach()
        queue.extend(n for n, _ in node.next_functions)
    return None


def _autocast(device: str) -> Optional[Tuple[str, torch.dtype]]:
    """(device type, dtype) of the autocast on for `device`, or None; the origin search re-runs under it."""
    if not hasattr(torch, "get_autocast_dtype"):  # torch < 2.4 does not tell it per device
        return None
    try:
        return (device, torch.get_autocast_dtype(device)) if torch.is_autocast_enabled(device) else None
    except RuntimeError:  # a device type autocast does not know
        return None


def _event(step: int, kind: str, severity: str, message: str, **evidence: float) -> Event:
    return Event(step, kind, severity, "optimizer", message, HINT, evidence, category="model")
