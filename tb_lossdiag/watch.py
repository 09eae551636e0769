"""writer.watch(model, optimizer): hooks that gather each training step's model statistics.

Step numbers: a step is one optimizer.step(); the first one watched is `first_step` (default 0),
so `for step, batch in enumerate(loader)` with `add_scalar("loss/train", loss, step)` and one
optimizer.step() per batch gets events at the same steps as the loss. With gradient accumulation
every micro-batch of an optimizer step shares its number. Without an optimizer a step ends with
each backward pass.

Cost: steps with `step % interval == 0` are sampled, the interval starting at `every` (10) and
doubling after every 5 calm sampled steps up to `max_every` (8 x every): a long healthy run pays
for 1 in 80 steps, while any warning or error, or an unsampled step whose cheap checks flag
something, sets it back to `every` at once. A sampled step gets hooks on the leaf modules for its
first training forward (activation statistics of the batch's first rows, at most 32,768 values of
an output, and one NaN/Inf probe of all of it) and a pre-step hook on the optimizer (weight norms,
update ratios), and everything is read in ONE host transfer. Every other step runs only the cheap
checks, from three hooks: the model's forward hook (one sum per floating input on an accelerator;
on CPU a weak reference, read only if the step is flagged), one hook on the model's output that
sees, as backward starts, whether the last step's gradients were cleared, and the optimizer's
post-step hook (the norm of each of the smallest gradients it applies). On CPU they are
read at once (a read costs no sync there); on an accelerator they stay on the device and ride
along with the next sampled step's transfer, so no step adds a sync. An unsampled step reaches
the detectors only when a cheap check flags it (a non-finite value, uncleared gradients). Hooks
never keep activations: they keep only the small statistic tensors they compute. Evaluation
passes (model.eval() or no grad) are not observed.

Mixed precision: with `scaler=` (a torch.amp.GradScaler), an iteration whose optimizer step the
scaler skips (inf/NaN gradients, normal while it finds its scale) still ends a step at
`scaler.update()`, so step numbers stay those of the loop; its gradients are not measured (they
are the scaled, overflowing ones by design). Sampled steps read the scale with the other statistics.
"""

import functools
import inspect
import math
import weakref
from typing import List, Optional

import torch
from tensorboard.compat.proto import summary_pb2

from tb_lossdiag import stats as S

_DIVISIONS = {"DivBackward0": ("div", "_saved_other")}
_LOGS = {name: ("log", "_saved_self") for name in ("LogBackward0", "Log2Backward0", "Log10Backward0")}
_OPERAND_NODES = {**_DIVISIONS, **_LOGS}
_LOSS_SIDE_NODES = 32  # nodes read between a logged loss and the model output, every step
_MODEL_SIDE_NODES = 128  # nodes read below the model output, on sampled steps
_MAX_BAD_COLUMNS = 5
_ACTIVATION_ROWS = 16  # batch rows whose activations are measured on a sampled step, at most
# Values of an output measured at most (fewer rows of a large one): the statistics make a temporary
# of this size, at the forward pass's end where a step's memory peaks.
_ACTIVATION_VALUES = 1 << 15
_UNIT_SAMPLES = 8  # values per unit that a dead-unit call needs (dead_activation's min_samples)
_UPDATE_SAMPLE = 4096  # values per parameter whose change estimates its update ratio
_PROBE_VALUES = 1 << 16  # gradient values (of the smallest parameters) probed every step on CPU
_TABLE_EVERY = 10  # sampled steps between two per-layer tables (a text record costs ~0.2 ms)
_CALM_SAMPLES = 5  # calm sampled steps in a row after which the sampling interval doubles
_JUMP = 10.0  # an unsampled step whose gradient norm is this many times the last sampled one is shown


class _Record:
    """One training step: Python facts, and device tensors awaiting the one host transfer."""

    __slots__ = ("step", "sampled", "tensors", "values", "forwarded", "inputs", "activations", "operands",
                 "grad_names", "grad_slot", "weight_slot", "update_slot", "updated", "before", "lrs",
                 "not_cleared", "facts", "loss_read", "model_read", "lr_slot", "unread", "scale_slot",
                 "flagged", "measured")

    def __init__(self, step: int, sampled: bool):
        self.step = step
        self.sampled = sampled
        self.tensors: List[torch.Tensor] = []
        self.values: List[List[float]] = []
        self.forwarded = False
        self.inputs = []  # (name, shape, floating, nonfinite slot or None, stats slot or None)
        self.activations = []  # (name, kind, numel, units, slot)
        self.operands = []  # (op, node, where, numel, slot)
        self.grad_names: List[str] = []
        self.grad_slot: Optional[int] = None
        self.weight_slot: Optional[int] = None
        self.update_slot: Optional[int] = None
        self.updated: List[int] = []  # watched-parameter indices the update norms cover
        self.before: Optional[List[torch.Tensor]] = None
        self.lrs = ()
        self.not_cleared: List[str] = []
        self.facts = {}  # StepStats parameter facts of a sampled step
        self.loss_read = False
        self.model_read = False
        self.lr_slot: Optional[int] = None
        self.unread = []  # (name, weakref) of an unsampled CPU step's inputs, read only if flagged
        self.scale_slot: Optional[int] = None
        self.flagged: Optional[bool] = None  # an unsampled step's gradient probe found something
        self.measured = False  # its gradients were measured (before step() on a sampled step)

    def add(self, tensor: torch.Tensor) -> int:
        """Keep a small statistic tensor for the transfer; its slot index."""
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    @property
    def on_device(self) -> bool:
        return any(not t.is_cpu for t in self.tensors)


def _guarded(where: str):
    """A hook method whose failure becomes one diagnostic_failure event (a try costs nothing)."""
    def wrap(method):
        @functools.wraps(method)
        def hook(self, *args):
            try:
                return method(self, *args)
            except Exception as error:
                with self._writer._guard(where, self._step):
                    raise error
        return hook
    return wrap


class Watch:
    """The hooks of one writer.watch() call; remove() takes every one of them off."""

    def __init__(self, writer, model, optimizer=None, *, every: int = 10, first_step: int = 0,
                 max_every: Optional[int] = None, activations: bool = True, layer_table: bool = True,
                 scaler=None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(
                f"watch() needs the model as a torch.nn.Module, got {type(model).__name__}: "
                "pass the module itself, e.g. writer.watch(model, optimizer)"
            )
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"watch()'s optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}: "
                "pass the optimizer whose step() trains the model, or leave it out"
            )
        if scaler is not None and not isinstance(scaler, torch.amp.GradScaler):
            raise TypeError(
                f"watch()'s scaler must be a torch.amp.GradScaler, got {type(scaler).__name__}: "
                "pass the scaler whose scale()/step()/update() the loop calls, or leave it out"
            )
        if scaler is not None and optimizer is None:
            raise ValueError("watch(scaler=...) needs the optimizer too: writer.watch(model, optimizer, scaler=scaler)")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive number of steps (e.g. every=10), got {every!r}")
        max_every = 8 * every if max_every is None else max_every
        if isinstance(max_every, bool) or not isinstance(max_every, int) or max_every < every:
            raise ValueError(f"max_every must be a number of steps >= every ({every}), got {max_every!r}; "
                             "max_every=every samples at a fixed interval")
        if isinstance(first_step, bool) or not isinstance(first_step, int) or first_step < 0:
            raise ValueError(f"first_step must be a step number >= 0, got {first_step!r}")
        # torch.compile(model): the hooks go on the compiled wrapper, whose hooks run eagerly around
        # the compiled graph (no graph break); names and leaves are the original module's. Leaf
        # hooks inside a compiled graph are not re-run when added later, so no activation statistics.
        inner = getattr(model, "_orig_mod", None)
        compiled = type(model).__name__ == "OptimizedModule" and isinstance(inner, torch.nn.Module)
        original = inner if compiled else model
        self._writer = writer
        self._model = model
        self._optimizer = optimizer
        self._scaler = scaler if scaler is not None and scaler.is_enabled() else None
        self._stepped = False  # the optimizer stepped since the scaler's last update()
        self._skipped = 0  # iterations the scaler skipped since the last sampled step
        self._every = every
        self._max_every = max_every
        self._interval = every  # the current sampling interval, every <= interval <= max_every
        self._calm = 0  # sampled steps in a row without a warning or error
        self._events_seen = len(writer._events)
        self._sampled_count = 0
        self._activations = activations and not compiled
        self._layer_table = layer_table
        self._step = first_step
        self._record: Optional[_Record] = None
        self._upcoming = False  # whether the coming step is sampled (decided as the last one ends)
        self._sampled_handles = []  # the hooks on only while the coming step is a sampled one
        self._pending: List[_Record] = []
        self._output_node_id = None
        self._sampled_norm_sq = math.inf  # squared global gradient norm of the last sampled step
        self._sampled_probe = math.inf  # the probe parameters' gradient norm then (CPU)
        self._armed = {}  # parameter index -> (weakref to its .grad, its version) after a step
        self._backward_queued = False
        self._named = list(original.named_parameters())
        self._layer_of = [name.rpartition(".")[0] for name, _ in self._named]
        self._measured = []  # indices of the parameters whose gradients are measured
        self._probe = []  # the smallest of them: their gradients are read every step
        self._find_measured()
        self._arg_names = _positional_names(original)
        self._leaves = [(name, m) for name, m in original.named_modules() if next(m.children(), None) is None]
        self._handles = []
        self._leaf_handles = []
        self._install()

    # -- public ------------------------------------------------------------------------------

    @property
    def step(self) -> int:
        """The step number the next (or current) training step gets."""
        return self._step

    def remove(self) -> None:
        """Take every hook off and write what is still pending."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._unhook_leaves()
        self._sampled_hooks(False)
        self._armed.clear()
        if self._scaler is not None and self._scaler.__dict__.get("update") is self._scaler_update:
            del self._scaler.update
        if self._record is not None and self._record.tensors:
            self._close_step()
        self._flush()

    @_guarded("watch: loss graph")
    def saw_loss(self, tensor: torch.Tensor, value: float) -> None:
        """Called by the writer with a logged loss: on sampled steps, or when the loss is not finite,
        read its divisions' and logs' operands."""
        record = self._record
        if record is None or record.loss_read or tensor.grad_fn is None:
            return
        if not record.sampled and math.isfinite(value):
            return
        record.loss_read = True
        self._read_operands(record, tensor.grad_fn, "loss", _LOSS_SIDE_NODES)

    # -- installation --------------------------------------------------------------------------

    def _install(self):
        model = self._model
        after = model.register_forward_hook(self._after_forward, with_kwargs=True)
        self._after_forward_id = after.id
        self._handles.append(after)
        if self._optimizer is not None:
            self._handles.append(self._optimizer.register_step_post_hook(self._after_step))
        if self._scaler is not None:
            # GradScaler has no hooks and update() ends every iteration, skipped or not: an
            # instance attribute wraps it (remove() deletes it, the class method shows again).
            self._scaler_update = functools.partial(self._before_update, self._scaler.update)
            self._scaler.update = self._scaler_update
        self._prepare()

    def _prepare(self):
        """Decide whether the coming step is sampled, and put on the hooks only a sampled step needs.

        Every hook call costs even when it returns at once (tens of µs in a real step here, with
        the caches cold from the model's own work): the model's forward pre-hook (it puts hooks on
        the leaf modules for the activations) and the optimizer's pre-step hook (measuring before
        step() changes the weights) are on for sampled steps only; an unsampled step runs the
        model's forward hook, one hook on the output as backward starts and the post-step hook.
        """
        self._upcoming = self._step % self._interval == 0
        self._sampled_hooks(self._upcoming)

    def _sampled_hooks(self, on: bool):
        if on == bool(self._sampled_handles):
            return
        if not on:
            for handle in self._sampled_handles:
                handle.remove()
            self._sampled_handles.clear()
            return
        if self._activations:
            self._sampled_handles.append(self._model.register_forward_pre_hook(self._before_forward))
        if self._optimizer is not None:
            self._sampled_handles.append(self._optimizer.register_step_pre_hook(self._before_step))

    def _hook_leaves(self):
        """Hooks on every leaf module, for one sampled forward: other forwards run without them."""
        self._unhook_leaves()
        for name, module in self._leaves:
            self._leaf_handles.append(module.register_forward_hook(functools.partial(self._measure_activation, name)))
        # A model that is itself a leaf is measured by its own hook, before _after_forward's.
        self._model._forward_hooks.move_to_end(self._after_forward_id)

    def _unhook_leaves(self):
        for handle in self._leaf_handles:
            handle.remove()
        self._leaf_handles.clear()

    def _observing(self) -> bool:
        return self._model.training and torch.is_grad_enabled()

    def _current(self) -> _Record:
        if self._record is None:
            self._record = _Record(self._step, self._upcoming)
        return self._record

    # -- forward -------------------------------------------------------------------------------

    @_guarded("watch: activations")
    def _before_forward(self, module, args):
        """On a sampled step only: the first training forward gets the leaf-module hooks."""
        if self._observing() and not self._current().forwarded:
            self._hook_leaves()

    @_guarded("watch: inputs")
    def _check_inputs(self, record, args, kwargs):
        self._count_nonfinite(record, list(self._tensor_args(args, kwargs)))

    def _tensor_args(self, args, kwargs):
        """(name, tensor) for each tensor argument, one level into tuples, lists and dicts."""
        named = [(self._arg_names[i] if i < len(self._arg_names) else f"args[{i}]", a)
                 for i, a in enumerate(args)]
        named += [(f"kwarg {k!r}", v) for k, v in kwargs.items()]
        for name, value in named:
            if isinstance(value, torch.Tensor):
                yield name, value
            elif isinstance(value, (tuple, list)):
                yield from ((f"{name}[{i}]", v) for i, v in enumerate(value) if isinstance(v, torch.Tensor))
            elif isinstance(value, dict):
                yield from ((f"{name}[{k!r}]", v) for k, v in value.items() if isinstance(v, torch.Tensor))

    def _count_nonfinite(self, record, named):
        if not record.sampled and all(x.is_cpu for _, x in named):
            # Unsampled CPU step: only weak references, read exactly if the step's gradient probe
            # flags it (a NaN input makes the gradients NaN); reading every batch costs ~0.1 ms.
            record.unread.extend((name, weakref.ref(x)) for name, x in named)
            return
        floating = [x.is_floating_point() and x.numel() > 0 for _, x in named]
        counted = [f and not x.is_cpu for f, (_, x) in zip(floating, named)]
        on_host = [i for i, (f, (_, x)) in enumerate(zip(floating, named)) if f and x.is_cpu]
        if on_host:
            # Counting is cheap on an accelerator and reading it there would sync; on CPU reading
            # a scalar costs no sync and isfinite() is ~40x slower than sum(): count exactly only
            # the inputs whose sum is not finite. One input: its sum, read; more: one stack, read.
            probes = [S.finiteness_probe(named[i][1]) for i in on_host]
            sums = [probes[0].item()] if len(probes) == 1 else torch.stack(probes).tolist()
            for i, total in zip(on_host, sums):
                counted[i] = not math.isfinite(total)
        for (name, x), is_float, count in zip(named, floating, counted):
            count_slot = record.add(S.nonfinite_counts(x)) if count else None
            stats_slot = record.add(S.input_stats(x)) if record.sampled and is_float else None
            record.inputs.append((name, tuple(x.shape), x.is_floating_point(), count_slot, stats_slot))

    @_guarded("watch: activations")
    def _measure_activation(self, name, module, args, output):
        record = self._record
        out = _first_tensor(output)
        if out is None or not out.is_floating_point() or out.numel() == 0:
            return
        inp = _first_tensor(args)
        kind = type(module).__name__
        unit_kind = S.UNIT_KINDS.get(kind)
        units = out.shape[1] if unit_kind is not None and out.dim() >= 2 else 0
        # The first rows of the batch tell the scale, dead and saturated units; the whole output's
        # sum (one cheap reduction) tells whether any value is NaN/Inf.
        part = out[:_measured_rows(out, units)] if out.dim() >= 2 else out[:_ACTIVATION_VALUES]
        with torch.no_grad():
            slot = record.add(S.activation_stats(part, inp, unit_kind if units else None, out))
        record.activations.append((name, kind, part.numel(), units, slot))

    @_guarded("watch: forward")
    def _after_forward(self, module, args, kwargs, output):
        if not self._observing():
            return
        record = self._current()
        record.forwarded = True
        if self._leaf_handles:  # the step's first training forward has been measured
            self._unhook_leaves()
        self._check_inputs(record, args, kwargs)
        self._model_graph(record, output)

    @_guarded("watch: model graph")
    def _model_graph(self, record, output):
        out = _first_tensor(output)
        node = out.grad_fn if out is not None else None
        self._output_node_id = id(node) if node is not None else None
        if node is not None and (self._armed or self._optimizer is None):
            # Runs as backward starts, before any parameter's gradient is accumulated.
            node.register_prehook(self._backward_starts)
        if record.sampled and node is not None and not record.model_read:
            record.model_read = True
            self._read_operands(record, node, "model", _MODEL_SIDE_NODES)

    def _read_operands(self, record, root, where, limit):
        """Queue min |denominator| / min log argument of the graph's divisions and logs."""
        stop = self._output_node_id if where == "loss" else None
        seen, queue = set(), [root]
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
                    record.operands.append((op, name, where, operand.numel(), slot))
            queue.extend(n for n, _ in node.next_functions)

    # -- backward ------------------------------------------------------------------------------

    @_guarded("watch: gradients")
    def _backward_starts(self, grad):
        # Backward runs with grad mode off: only the model's mode tells an evaluation pass.
        if not self._model.training:
            return
        armed, self._armed = self._armed, {}
        named = self._named
        # Still the very tensor, at the very version, the last step left: nothing cleared it.
        stale = [named[i][0] for i, (ref, version) in armed.items()
                 if (g := named[i][1].grad) is not None and g is ref() and g._version == version]
        if stale:
            self._current().not_cleared.extend(stale)
        if self._optimizer is None and not self._backward_queued:
            self._backward_queued = True
            # Runs once this backward pass has finished: the gradients are complete then.
            torch.autograd.Variable._execution_engine.queue_callback(self._after_backward)

    @_guarded("watch: gradients")
    def _after_backward(self):
        self._backward_queued = False
        self._measure_gradients(self._current())
        self._end_step()

    # -- optimizer -----------------------------------------------------------------------------

    def _before_step(self, optimizer, args, kwargs):
        """optimizer.step(closure) (LBFGS, Lightning) runs forward and backward inside step():
        the closure runs first here, so the gradients measured are this step's."""
        # args[0] is the optimizer itself (torch passes step()'s own arguments to the hooks).
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)
        replaced = None
        if callable(closure):  # unguarded: an error of the user's closure is the user's to see
            replaced = args[:1], {**kwargs, "closure": _Evaluated(closure)}
        self._measure_step(optimizer, args, kwargs)
        return replaced

    @_guarded("watch: optimizer")
    def _measure_step(self, optimizer, args, kwargs):
        """A sampled step's measures before step() changes the weights (its only pre-step hook)."""
        record = self._current()
        self._find_measured()
        self._measure_gradients(record)
        record.updated = self._measured
        with torch.no_grad():
            # A strided sample of each parameter: its change over step() estimates the update at a
            # few KiB, where a clone of all would cost MiBs.
            record.before = torch._foreach_mul(self._update_samples(record.updated), 1.0)

    @_guarded("watch: optimizer")
    def _after_step(self, optimizer, args, kwargs):
        record = self._current()
        if not record.measured:  # no pre-step hook on an unsampled step: the gradients are final now
            self._measure_gradients(record)
        if record.before is not None:
            with torch.no_grad():
                after = self._update_samples(record.updated)
                record.update_slot = record.add(S.update_norms(record.before, after))
            record.before = None
        if record.flagged is not False:  # a calm unsampled CPU step reaches no detector
            self._read_lrs(record, optimizer)
        # Only what the optimizer holds: optimizer.zero_grad() never clears the others, and
        # frozen_parameters already names them.
        named = self._named
        self._armed = {i: (weakref.ref(g), g._version) for i in self._measured
                       if (g := named[i][1].grad) is not None}
        self._stepped = True
        self._end_step()

    def _read_lrs(self, record, optimizer):
        lrs = [group["lr"] for group in optimizer.param_groups]
        tensor_lr = next((lr for lr in lrs if isinstance(lr, torch.Tensor)), None)
        if tensor_lr is None:
            record.lrs = tuple(float(lr) for lr in lrs)
        else:  # a tensor lr (capturable optimizers) rides along with the transfer
            device = tensor_lr.device
            record.lr_slot = record.add(torch.stack(
                [torch.as_tensor(lr, dtype=torch.float32, device=device).reshape(()) for lr in lrs]))

    def _before_update(self, update, *args, **kwargs):
        """An iteration whose step the scaler skipped ends here, then GradScaler.update() runs."""
        stepped, self._stepped = self._stepped, False
        if not stepped and self._record is not None and self._record.forwarded:
            with self._writer._guard("watch: grad scaler", self._step):
                self._skipped += 1
                self._end_step()  # before update(): the record reads the scale this iteration used
        return update(*args, **kwargs)

    def _update_samples(self, indices):
        """Every `stride`-th value of each parameter (all of a small one), the same ones each call."""
        samples = []
        for i in indices:
            flat = self._named[i][1].detach().reshape(-1)
            samples.append(flat[::max(1, flat.numel() // _UPDATE_SAMPLE)])
        return samples

    def _optimized_ids(self):
        return {id(p) for group in self._optimizer.param_groups for p in group["params"]}

    def _find_measured(self):
        """The parameters whose gradients count: those the optimizer applies (all without one);
        and the smallest of them, whose gradients probe every step."""
        if self._optimizer is None:
            self._measured = list(range(len(self._named)))
        else:
            held = self._optimized_ids()
            self._measured = [i for i, (_, p) in enumerate(self._named) if id(p) in held]
        self._probe, total = [], 0
        self._probe_names = set()
        for i in sorted(self._measured, key=lambda i: self._named[i][1].numel()):
            total += self._named[i][1].numel()
            if self._probe and total > _PROBE_VALUES:
                break
            self._probe.append(i)
            self._probe_names.add(self._named[i][0])

    def _measure_gradients(self, record):
        record.measured = True
        named = self._named
        if not record.sampled:
            probe = [g for i in self._probe if (g := named[i][1].grad) is not None and not g.is_sparse]
            if all(g.is_cpu for g in probe):
                # Reading every gradient each step costs ~0.1 ms on a small model (per-op overhead,
                # cold memory). The smallest ones (biases, norm weights) sum dL/dh over the batch, so
                # a NaN/Inf anywhere upstream reaches them, and they grow when the others explode:
                # their norm alone decides whether an unsampled step is measured in full (no gradient
                # yet: not).
                probe_norm = _norm(probe)
                record.flagged = not math.isfinite(probe_norm) or probe_norm > _JUMP * self._sampled_probe
                if not record.flagged:
                    return
                self._read_inputs(record)
        present = [i for i in self._measured if (g := named[i][1].grad) is not None and not g.is_sparse]
        record.grad_names = [named[i][0] for i in present]
        record.grad_slot = record.add(S.norms([named[i][1].grad.detach() for i in present]))
        if record.sampled:
            record.weight_slot = record.add(S.norms([p.detach() for _, p in named]))
            self._parameter_facts(record)

    def _read_inputs(self, record):
        """Exact NaN/Inf counts of a flagged step's inputs that are still alive."""
        for name, ref in record.unread:
            x = ref()
            if x is not None:
                count = record.add(S.nonfinite_counts(x)) if x.is_floating_point() and x.numel() else None
                record.inputs.append((name, tuple(x.shape), x.is_floating_point(), count, None))
        record.unread = []

    def _parameter_facts(self, record):
        facts = record.facts
        if self._optimizer is None:
            return
        held = self._optimized_ids()
        facts["not_in_optimizer"] = tuple(n for n, p in self._named if p.requires_grad and id(p) not in held)
        facts["frozen_in_optimizer"] = tuple(n for n, p in self._named if not p.requires_grad and id(p) in held)
        facts["frozen"] = tuple(n for n, p in self._named if not p.requires_grad and id(p) not in held)
        facts["no_gradient"] = tuple(
            n for n, p in self._named if p.requires_grad and id(p) in held and p.grad is None
        )

    # -- end of step ---------------------------------------------------------------------------

    def _end_step(self):
        """Hand the step's record on, then set up the hooks the coming step needs."""
        try:
            self._close_step()
        finally:
            self._prepare()

    def _close_step(self):
        record, self._record = self._record, None
        if record.sampled and self._scaler is not None:
            # The scale this iteration used (update() changes it in place, after this).
            scale = getattr(self._scaler, "_scale", None)  # None until the first scaler.scale()
            if isinstance(scale, torch.Tensor):
                record.scale_slot = record.add(scale.detach().reshape(1).clone())
        self._step += 1
        if not (record.sampled or record.tensors or record.flagged or record.not_cleared or record.operands):
            # A calm unsampled CPU step: nothing to read and nothing to report.
            if len(self._writer._events) != self._events_seen:
                self._adapt([])  # a loss detector spoke meanwhile
            return
        self._pending.append(record)
        if record.sampled or not record.on_device:
            self._flush()

    def _flush(self):
        """Read every pending record in one host transfer and hand each step to the detectors."""
        pending, self._pending = self._pending, []
        ready = []
        if not pending:
            return
        with self._writer._guard("watch: statistics", pending[-1].step):
            values = S.to_host([t for record in pending for t in record.tensors])
            start = 0
            for record in pending:
                record.values = values[start:start + len(record.tensors)]
                start += len(record.tensors)
                record.tensors = []
            ready = [self._step_stats(record) for record in pending if self._reaches_detectors(record)]
            for step_stats in ready:
                if step_stats.sampled:
                    self._write(step_stats)
        # Outside the guard: stop_on_error's DiagnosticError must reach the training loop.
        for step_stats in ready:
            self._writer.observe_step(step_stats)
        self._adapt(ready)

    def _adapt(self, ready: List[S.StepStats]) -> None:
        """Back to `every` when anything looks wrong; relax toward `max_every` while all is calm."""
        events = self._writer._events
        alarmed = any(e.severity != "info" for e in events[self._events_seen:])
        self._events_seen = len(events)
        if alarmed or any(not stats.sampled for stats in ready):  # an unsampled step was flagged
            self._interval, self._calm = self._every, 0
            return
        self._calm += sum(stats.sampled for stats in ready)
        if self._calm >= _CALM_SAMPLES and self._interval < self._max_every:
            self._interval, self._calm = min(2 * self._interval, self._max_every), 0

    def _reaches_detectors(self, record: _Record) -> bool:
        """Sampled steps, and unsampled ones whose cheap checks flag something: a non-finite
        input or gradient, uncleared gradients, a loss-side operand read, or a gradient norm
        10x that of the last sampled step."""
        values = record.values
        norm_sq = sum(v * v for v in values[record.grad_slot]) if record.grad_slot is not None else 0.0
        if record.sampled:
            if math.isfinite(norm_sq):
                self._sampled_norm_sq = norm_sq
            if record.grad_slot is not None:  # the reference of the unsampled steps' probe (CPU)
                self._sampled_probe = math.sqrt(sum(
                    v * v for name, v in zip(record.grad_names, values[record.grad_slot])
                    if name in self._probe_names))
            return True
        if record.flagged is None:  # decided here for steps read late (accelerators)
            record.flagged = not math.isfinite(norm_sq) or norm_sq > _JUMP ** 2 * self._sampled_norm_sq
        return (
            record.flagged
            or bool(record.not_cleared)
            or bool(record.operands)  # read on unsampled steps only when the loss was not finite
            or any(slot is not None and any(values[slot]) for *_, slot, _ in record.inputs)
        )

    def _step_stats(self, record: _Record) -> S.StepStats:
        values = record.values
        grad_norms = {}
        if record.grad_slot is not None:
            grad_norms = dict(zip(record.grad_names, values[record.grad_slot]))
        return S.StepStats(
            step=record.step,
            sampled=record.sampled,
            inputs=tuple(_input(values, *entry) for entry in record.inputs),
            grad_norms=grad_norms,
            lrs=tuple(values[record.lr_slot]) if record.lr_slot is not None else record.lrs,
            grads_not_cleared=tuple(record.not_cleared),
            activations=_activations(values, record.activations),
            layers=self._layers(record, grad_norms) if record.sampled else (),
            operands=tuple(
                S.OperandStats(op, node, where, numel, minimum=values[slot][0], bad=int(values[slot][1]))
                for op, node, where, numel, slot in record.operands
            ),
            grad_scale=values[record.scale_slot][0] if record.scale_slot is not None else None,
            skipped_steps=self._take_skipped() if record.sampled else 0,
            **record.facts,
        )

    def _take_skipped(self) -> int:
        """Iterations the scaler skipped since the last sampled step (this one included)."""
        skipped, self._skipped = self._skipped, 0
        return skipped

    def _layers(self, record, grad_norms):
        # No weight norms when the step ended before its gradients (remove() mid-step).
        weights = record.values[record.weight_slot] if record.weight_slot is not None else [0.0] * len(self._named)
        numel, squares, weight_sq, order = {}, {}, {}, []
        for (name, param), layer, weight in zip(self._named, self._layer_of, weights):
            if layer not in numel:
                order.append(layer)
                numel[layer], squares[layer], weight_sq[layer] = 0, 0.0, 0.0
            numel[layer] += param.numel()
            squares[layer] += grad_norms.get(name, 0.0) ** 2
            weight_sq[layer] += weight ** 2
        ratios = {}
        if record.update_slot is not None:
            delta_sq = {}
            for index, delta in zip(record.updated, record.values[record.update_slot]):
                layer = self._layer_of[index]
                size = self._named[index][1].numel()
                sampled = -(-size // max(1, size // _UPDATE_SAMPLE))  # values in its sample
                delta_sq[layer] = delta_sq.get(layer, 0.0) + delta ** 2 * size / sampled
            ratios = {layer: math.sqrt(delta_sq[layer] / weight_sq[layer])
                      for layer in delta_sq if weight_sq[layer] > 0}
        return tuple(
            S.LayerStats(layer, numel[layer], math.sqrt(squares[layer]), math.sqrt(weight_sq[layer]),
                         ratios.get(layer))
            for layer in order
        )

    def _write(self, stats: S.StepStats) -> None:
        """The summary scalars in ONE record, and the per-layer table as one text record."""
        scalars = _summary_scalars(stats)
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in scalars.items()]
        )
        self._writer._get_file_writer().add_summary(summary, stats.step)
        table_due = self._sampled_count % _TABLE_EVERY == 0
        self._sampled_count += 1
        if self._layer_table and table_due and (stats.layers or stats.activations):
            self._writer.add_text("diag/layers", _layer_table(stats), stats.step)


class _Evaluated:
    """A closure already run once: its first call returns that result, later ones (LBFGS) run it again."""

    def __init__(self, closure):
        with torch.enable_grad():
            self._result = closure()
        self._closure = closure
        self._fresh = True

    def __call__(self):
        if self._fresh:
            self._fresh = False
            return self._result
        return self._closure()


def _measured_rows(out: torch.Tensor, units: int) -> int:
    """Rows of a batch output to measure: up to _ACTIVATION_ROWS within _ACTIVATION_VALUES, yet
    enough for _UNIT_SAMPLES values per unit (a wide layer's rows are small next to its weights)."""
    per_row = out.numel() // out.shape[0]
    rows = min(_ACTIVATION_ROWS, max(1, _ACTIVATION_VALUES // per_row))
    if units:
        rows = max(rows, -(-_UNIT_SAMPLES * units // per_row))
    return rows


def _norm(tensors) -> float:
    """The L2 norm of CPU tensors taken together (reads cost no sync on CPU)."""
    # One norm and one read per tensor: in a real step (caches cold from the model's work) this
    # measured ~45% cheaper here than the fused _foreach_norm + stack + one read, even for 20 tensors.
    return math.sqrt(sum(torch.linalg.vector_norm(t).item() ** 2 for t in tensors))


def _input(values, name, shape, floating, count_slot, stats_slot) -> S.InputStats:
    nonfinite, bad_columns = 0, ()
    if count_slot is not None:
        counts = values[count_slot]
        nonfinite = int(sum(counts))
        if len(shape) == 2:
            worst = sorted((c for c in enumerate(counts) if c[1] > 0), key=lambda c: -c[1])
            bad_columns = tuple((col, int(n)) for col, n in worst[:_MAX_BAD_COLUMNS])
    mean = rms = absmax = None
    if stats_slot is not None:
        total, total_sq, absmax = values[stats_slot]
        n = math.prod(shape)
        mean, rms = total / n, math.sqrt(total_sq / n) if total_sq >= 0 else math.nan
    return S.InputStats(name, shape, floating, nonfinite, bad_columns, mean, rms, absmax)


def _activations(values, entries):
    found = []
    for k, (name, kind, numel, units, slot) in enumerate(entries):
        total, total_sq, nonzero, in_sum, flagged, whole = values[slot]
        mean, std = S.moments(total, total_sq, numel)
        flagged = flagged if math.isfinite(flagged) else 0
        relu = S.UNIT_KINDS.get(kind) == "relu"
        found.append(S.ActivationStats(
            name=name, kind=kind, numel=numel, mean=mean, std=std,
            zero_fraction=1.0 - nonzero / numel if math.isfinite(nonzero) else math.nan,
            finite=math.isfinite(whole), input_finite=math.isfinite(in_sum),
            nan=math.isnan(whole), input_nan=math.isnan(in_sum), units=units,
            dead_units=int(flagged) if relu else 0,
            saturated_fraction=0.0 if relu or not units else flagged / numel,
            is_output=k == len(entries) - 1,
        ))
    return tuple(found)


def _summary_scalars(stats: S.StepStats):
    """A dozen chartable tags under diag/: totals and extremes, never one tag per layer."""
    scalars = {}
    if stats.grad_norms:
        scalars["diag/grad_norm"] = stats.grad_norm
        scalars["diag/grad_nonfinite"] = sum(not math.isfinite(v) for v in stats.grad_norms.values())
    ratios = [layer.update_ratio for layer in stats.layers if layer.update_ratio is not None]
    if ratios:
        scalars["diag/update_ratio_max"] = max(ratios)
        scalars["diag/update_ratio_min"] = min(ratios)
    if stats.grad_scale is not None:
        scalars["diag/grad_scale"] = stats.grad_scale
    for i, lr in enumerate(stats.lrs[:4]):
        scalars["diag/lr" if i == 0 else f"diag/lr/group{i}"] = lr
    acts = stats.activations
    if acts:
        numel = sum(a.numel for a in acts)
        scalars["diag/act_zero_fraction"] = sum(a.zero_fraction * a.numel for a in acts) / numel
        scalars["diag/act_std_min"] = min(a.std for a in acts)
        scalars["diag/act_std_max"] = max(a.std for a in acts)
        scalars["diag/act_nonfinite_layers"] = sum(not a.finite for a in acts)
    floats = [i for i in stats.inputs if i.mean is not None]
    if floats:
        scalars["diag/input_mean"] = floats[0].mean
        scalars["diag/input_rms"] = floats[0].rms
    if stats.inputs:
        scalars["diag/input_nonfinite"] = sum(i.nonfinite for i in stats.inputs)
    return scalars


def _layer_table(stats: S.StepStats) -> str:
    """Per-layer detail as one markdown table (TensorBoard's Text tab)."""
    rows = ["| layer | grad norm | update/weight |", "|---|---|---|"]
    rows += [f"| {l.name or '(root)'} | {l.grad_norm:.3g} | "
             f"{'' if l.update_ratio is None else format(l.update_ratio, '.3g')} |" for l in stats.layers]
    rows += ["", "| module | kind | mean | std | zero frac |", "|---|---|---|---|---|"]
    rows += [f"| {a.name} | {a.kind} | {a.mean:.3g} | {a.std:.3g} | {a.zero_fraction:.2f} |"
             for a in stats.activations]
    return "\n".join(rows)


def _first_tensor(value) -> Optional[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    if isinstance(value, dict):
        return next((v for v in value.values() if isinstance(v, torch.Tensor)), None)
    return None


def _positional_names(model) -> List[str]:
    try:
        parameters = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds]
