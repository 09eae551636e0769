"""Watch: the hooks, and the ONE host transfer per sampled step. Which steps are sampled is
schedule's; what each hook measures is a probe of its own module (inputs, activations, operands,
stale, gradients, updates, scaler); what is written beside the detectors' records is summaries';
what guard=True does at a non-finite step is guard's; hooks holds the hooks' plumbing."""

import math
from typing import Dict, List, Optional, Tuple

import torch
from torch.utils.hooks import RemovableHandle

from tb_lossdiag import stats as S
from tb_lossdiag.watch import operands
from tb_lossdiag.watch.activations import ActivationProbe, activation_stats
from tb_lossdiag.watch.arguments import checked
from tb_lossdiag.watch.gradients import GradientProbe
from tb_lossdiag.watch.guard import Guard, options
from tb_lossdiag.watch.hooks import Evaluated, guarded
from tb_lossdiag.watch.inputs import InputProbe
from tb_lossdiag.watch.origin import find_origin
from tb_lossdiag.watch.parameters import Parameters
from tb_lossdiag.watch.record import StepRecord, first_tensor
from tb_lossdiag.watch.scaler import ScalerProbe
from tb_lossdiag.watch.schedule import Schedule
from tb_lossdiag.watch.stale import StaleGradients
from tb_lossdiag.watch.summaries import SummaryWriting
from tb_lossdiag.watch.updates import UpdateProbe, learning_rates
from tb_lossdiag.writer import DiagnosticError


class Watch:
    """The hooks of one writer.watch() call; remove() takes every one of them off."""

    def __init__(self, writer, model, optimizer=None, *, every: int = 10, first_step: int = 0,
                 max_every: Optional[int] = None, activations: bool = True, layer_table: bool = True,
                 scaler=None, guard=False, max_skips: int = 10, keep_batches: int = 3, keep_mb: float = 64,
                 loader=None):
        max_every = checked(model, optimizer, scaler, every, max_every, first_step)
        guarding = options(guard, optimizer, scaler, max_skips, keep_batches, keep_mb, loader)
        # torch.compile(model): the hooks go on the compiled wrapper, whose hooks run eagerly around
        # the compiled graph (no graph break); names and leaves are the original module's. Leaf
        # hooks inside a compiled graph are not re-run when added later, so no activation statistics.
        inner = getattr(model, "_orig_mod", None)
        original = inner if type(model).__name__ == "OptimizedModule" and isinstance(inner, torch.nn.Module) else model
        compiled = original is not model
        self._writer = writer
        self._model = model
        self._optimizer = optimizer
        self._schedule = Schedule(every, max_every)
        self._events_seen = writer.event_count
        self._step = first_step
        self._record: Optional[StepRecord] = None
        self._upcoming = False  # whether the coming step is sampled (decided as the last one ends)
        self._pending: List[StepRecord] = []  # accelerator steps awaiting the next sampled step's transfer
        self._output_node_id = None
        self._backward_queued = False
        self._parameters = Parameters(original.named_parameters(), optimizer)
        self._inputs = InputProbe(original)
        self._measure_activations = activations and not compiled
        self._activations = ActivationProbe(original)
        self._gradients = GradientProbe(self._parameters)
        self._stale = StaleGradients(self._parameters)
        self._updates = UpdateProbe(self._parameters)
        self._summaries = SummaryWriting(writer, layer_table)
        self._scaler: Optional[ScalerProbe] = None
        self._guard = Guard(original, optimizer, guarding, writer.get_logdir(), loader) if guarding else None
        self._origins: Dict[int, S.NonfiniteOrigin] = {}  # step -> where its NaN/Inf was born
        self._origin_sought = False  # the search runs once per run, at its first non-finite step
        self._handles: List[RemovableHandle] = []
        self._sampled_handles: List[RemovableHandle] = []  # the hooks on only while the coming step is a sampled one
        self._install(scaler)

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
        self._activations.unhook()
        self._sampled_hooks(False)
        self._stale.disarm()
        if self._scaler is not None:
            self._scaler.remove()
        if self._guard is not None:
            self._guard.remove()
        if self._record is not None and self._record.tensors:
            self._close_step()
        self._record = None
        self._flush()

    @guarded("watch: loss graph")
    def saw_loss(self, tensor: torch.Tensor, value: float) -> None:
        """Called by the writer with a logged loss: on sampled steps, or when the loss is not finite,
        read its divisions' and logs' operands."""
        record = self._record
        if record is not None and self._guard is not None:  # a loss logged before step()
            self._guard.saw_loss(tensor, value, self._output_node_id)
        if record is None or record.loss_read or tensor.grad_fn is None:
            return
        if not record.sampled and math.isfinite(value):
            return
        record.loss_read = True
        operands.read_operands(record, tensor.grad_fn, "loss", operands.LOSS_SIDE_NODES, stop=self._output_node_id)

    # -- installation --------------------------------------------------------------------------

    def _install(self, scaler):
        after = self._model.register_forward_hook(self._after_forward, with_kwargs=True)
        self._after_forward_id = after.id
        self._handles.append(after)
        if self._optimizer is not None:
            self._handles.append(self._optimizer.register_step_post_hook(self._after_step))
        if self._guard is not None:  # every step: the guard's forward pre-hook and the one pre-step hook
            self._handles.append(self._model.register_forward_pre_hook(self._guard_forward, with_kwargs=True))
            self._handles.append(self._optimizer.register_step_pre_hook(self._before_step))
        if scaler is not None and scaler.is_enabled():
            self._scaler = ScalerProbe(scaler, self._end_skipped)
        self._prepare()

    def _prepare(self):
        """Decide whether the coming step is sampled, and put on the hooks only a sampled step needs.

        Every hook call costs even when it returns at once (tens of µs each, timed inside a real
        training step of a small MLP, with the caches cold from the model's own work): the model's
        forward pre-hook (it puts hooks on the leaf modules for the activations) and the
        optimizer's pre-step hook (measuring before step() changes the weights) are on for sampled
        steps only (with guard=, the pre-step hook and the guard's forward pre-hook are on always);
        an unsampled step runs the model's forward hook, one hook on the output as backward starts
        and the post-step hook.
        """
        self._upcoming = self._schedule.sampled(self._step)
        self._sampled_hooks(self._upcoming)

    def _sampled_hooks(self, on: bool):
        if on == bool(self._sampled_handles):
            return
        if not on:
            for handle in self._sampled_handles:
                handle.remove()
            self._sampled_handles.clear()
            return
        if self._measure_activations:
            self._sampled_handles.append(self._model.register_forward_pre_hook(self._before_forward))
        if self._optimizer is not None and self._guard is None:
            self._sampled_handles.append(self._optimizer.register_step_pre_hook(self._before_step))

    def _observing(self) -> bool:
        return self._model.training and torch.is_grad_enabled()

    def _current(self) -> StepRecord:
        if self._record is None:
            self._record = StepRecord(self._step, self._upcoming)
        return self._record

    # -- forward -------------------------------------------------------------------------------

    @guarded("watch: activations")
    def _before_forward(self, module, args):
        """On a sampled step only: the first training forward gets the leaf-module hooks."""
        if self._observing() and not self._current().forwarded:
            self._activations.hook(self._measure_activation)
            # A model that is itself a leaf is measured by its own hook, before _after_forward's.
            self._model._forward_hooks.move_to_end(self._after_forward_id)

    @guarded("watch: guard")
    def _guard_forward(self, module, args, kwargs):
        if self._observing():
            self._guard.before_forward(args, kwargs)

    @guarded("watch: activations")
    def _measure_activation(self, name, module, args, output):
        self._activations.measure(self._record, name, module, args, output)

    @guarded("watch: forward")
    def _after_forward(self, module, args, kwargs, output):
        if not self._observing():
            return
        record = self._current()
        record.forwarded = True
        if self._activations.hooked:  # the step's first training forward has been measured
            self._activations.unhook()
        self._check_inputs(record, args, kwargs, output)
        out = first_tensor(output)
        self._model_graph(record, out)
        # Without guard=, on CPU: a NaN/Inf output is found here, while the weights are the step's
        # (a NaN born in the loss or the backward, or on an accelerator, where this is a sync, needs guard=).
        # One sum read (~5 us): NaN/Inf in makes NaN/Inf out; an overflow to inf of finite values
        # costs one search that finds nothing.
        if self._guard is None and not self._origin_sought and out is not None and out.is_cpu \
                and out.is_floating_point() and not math.isfinite(float(S.local([out])[0].sum())):
            self._seek_origin(record.step, lambda: find_origin(self._model, args, kwargs))

    @guarded("watch: inputs")
    def _check_inputs(self, record, args, kwargs, output):
        self._inputs.check(record, args, kwargs, output)

    @guarded("watch: model graph")
    def _model_graph(self, record, out):
        node = out.grad_fn if out is not None else None
        self._output_node_id = id(node) if node is not None else None
        if node is not None and (self._stale.armed or self._optimizer is None):
            # Runs as backward starts, before any parameter's gradient is accumulated.
            node.register_prehook(self._backward_starts)
        if record.sampled and node is not None and not record.model_read:
            record.model_read = True
            operands.read_operands(record, node, "model", operands.MODEL_SIDE_NODES)

    # -- backward ------------------------------------------------------------------------------

    @guarded("watch: gradients")
    def _backward_starts(self, grad):
        # Backward runs with grad mode off: only the model's mode tells an evaluation pass.
        if not self._model.training:
            return
        stale = self._stale.check()
        if stale:
            self._current().not_cleared.extend(stale)
        if self._optimizer is None and not self._backward_queued:
            self._backward_queued = True
            # Runs once this backward pass has finished: the gradients are complete then.
            torch.autograd.Variable._execution_engine.queue_callback(self._after_backward)

    @guarded("watch: gradients")
    def _after_backward(self):
        self._backward_queued = False
        self._measure_gradients(self._current())
        self._end_step()

    def _measure_gradients(self, record):
        """The step's gradients, once; a flagged unsampled CPU step also gets its inputs counted."""
        self._gradients.measure(record)
        if record.flagged:
            self._inputs.read_held(record)

    # -- optimizer -----------------------------------------------------------------------------

    def _before_step(self, optimizer, args, kwargs):
        """optimizer.step(closure) (LBFGS, Lightning) runs forward and backward inside step():
        the closure runs first here, so the gradients measured are this step's."""
        # args[0] is the optimizer itself (torch passes step()'s own arguments to the hooks).
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)
        replaced = None
        if callable(closure):  # unguarded: an error of the user's closure is the user's to see
            replaced = args[:1], {**kwargs, "closure": Evaluated(closure)}
        if self._current().sampled:
            self._measure_step()
        if self._guard is not None:
            self._guard_step()
        return replaced

    @guarded("watch: optimizer")
    def _measure_step(self):
        """A sampled step's measures before step() changes the weights."""
        record = self._current()
        self._parameters.refresh()
        self._measure_gradients(record)
        self._updates.before(record)

    def _guard_step(self):
        """guard=: a step whose loss or gradients are not finite does not change the weights; its
        events are recorded, and DiagnosticError raised, outside the writer's guard."""
        record = self._current()
        events, stop = [], None
        with self._writer.guard("watch: guard", record.step):
            reason = self._guard.check()
            if reason is not None:
                self._measure_gradients(record)  # before the skip drops them
                if not self._origin_sought:
                    self._seek_origin(record.step, self._guard.origin)
                events, stop = self._guard.skip(record.step, reason)
        if events:
            self._writer.record(events)
        if stop is not None:
            self._end_step()  # the detectors see this step first: the diagnosis names its cause
            self._writer.record([stop])
            raise DiagnosticError(stop, self._writer.events)

    def _seek_origin(self, step: int, search) -> None:
        """The run's first non-finite step: where its NaN/Inf was born (watch/origin.py), for its StepStats."""
        self._origin_sought = True
        with self._writer.guard("watch: nan origin", step):
            origin = search()
            if origin is not None:
                self._origins[step] = origin

    @guarded("watch: optimizer")
    def _after_step(self, optimizer, args, kwargs):
        record = self._current()
        self._measure_gradients(record)  # an unsampled step has no pre-step hook: final gradients now
        self._updates.after(record)
        if record.flagged is not False:  # a calm unsampled CPU step reaches no detector
            learning_rates(record, optimizer)
        self._stale.arm(gradients=self._schedule.checks(self._step + 1))
        if self._scaler is not None:
            self._scaler.stepped = True
        self._end_step()

    def _end_skipped(self):
        """An iteration whose optimizer step the scaler skipped ends here, before scaler.update()."""
        if self._record is not None and self._record.forwarded:
            with self._writer.guard("watch: grad scaler", self._step):
                self._scaler.count_skipped()
                self._end_step()  # before update(): the record reads the scale this iteration used

    # -- end of step ---------------------------------------------------------------------------

    def _end_step(self):
        """Hand the step's record on, then set up the hooks the coming step needs."""
        try:
            self._close_step()
        finally:
            self._prepare()

    def _close_step(self):
        record, self._record = self._record, None
        record.held_inputs = []  # nothing of the batch outlives its step
        if self._guard is not None:
            self._guard.end_step()
        if record.sampled and self._scaler is not None:
            self._scaler.read_scale(record)
        self._step += 1
        if not (record.sampled or record.tensors or record.flagged or record.not_cleared or record.operands):
            # A calm unsampled CPU step: nothing to read and nothing to report.
            if self._writer.event_count != self._events_seen:
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
        with self._writer.guard("watch: statistics", pending[-1].step):
            values = S.to_host([t for record in pending for t in record.tensors])
            start = 0
            for record in pending:
                record.values = values[start:start + len(record.tensors)]
                start += len(record.tensors)
                record.tensors = []
            ready = [self._step_stats(record) for record in pending if self._reaches_detectors(record)]
            for step_stats in ready:
                if step_stats.sampled:
                    self._summaries.write(step_stats)
        # Outside the guard: stop_on_error's DiagnosticError must reach the training loop.
        for step_stats in ready:
            self._writer.observe_step(step_stats)
        self._adapt(ready)

    def _adapt(self, ready: List[S.StepStats]) -> None:
        """Back to `every` when anything looks wrong (an event, or a flagged unsampled step);
        relax toward `max_every` while all is calm."""
        alarmed = self._writer.alarmed_since(self._events_seen)
        self._events_seen = self._writer.event_count
        flagged = any(not stats.sampled for stats in ready)
        self._schedule.adapt(alarmed or flagged, sum(stats.sampled for stats in ready))

    def _reaches_detectors(self, record: StepRecord) -> bool:
        """Sampled steps, and unsampled ones whose cheap checks flag something: a non-finite
        input or gradient, uncleared gradients, a loss-side operand read, or a gradient norm
        10x that of the last sampled step."""
        return (
            self._gradients.review(record)
            or bool(record.not_cleared)
            or bool(record.operands)  # read on unsampled steps only when the loss was not finite
            or any(entry.nonfinite(record.values) for entry in record.inputs)
        )

    def _step_stats(self, record: StepRecord) -> S.StepStats:
        values = record.values
        grad_norms = self._gradients.norms(record)
        layers: Tuple[S.LayerStats, ...] = ()
        if record.sampled:
            layers = self._parameters.layers(grad_norms, self._gradients.weights(record),
                                             self._updates.delta_squares(record))
        return S.StepStats(
            step=record.step,
            sampled=record.sampled,
            inputs=tuple(entry.stats(values) for entry in record.inputs),
            grad_norms=grad_norms,
            lrs=record.lrs.read(values) if record.lrs is not None else (),
            grads_not_cleared=tuple(record.not_cleared),
            activations=activation_stats(values, record.activations),
            layers=layers,
            operands=tuple(entry.stats(values) for entry in record.operands),
            grad_scale=values[record.scale][0] if record.scale is not None else None,
            skipped_steps=self._scaler.take_skipped() if record.sampled and self._scaler is not None else 0,
            origin=self._origins.pop(record.step, None),
            **record.facts,
        )
