"""Swap-only checks: when a loss tensor is logged and no watch() is active, DiagWriter puts the
gradient-side probes on the parameters the loss's autograd graph reaches, with no nn.Module.

Found: the graph's AccumulateGrad leaves (auto_graph), once per distinct graph (a cheap signature,
read on a new root op and on sampled steps); a new graph (a new head) extends the set. Held: every
parameter's AccumulateGrad node, so that every forward reuses it. Installed: a pre-hook on two of
them per graph (the leaf backward reaches first, and the last), whose first call in a backward pass
(told by the autograd engine's graph task id) checks for gradients left from before the last update
(a missing zero_grad()) before they accumulate; a callback at the pass's end only where one is
needed (to measure a loss logged before its backward, to arm the next pass's check). Measured
as watch() does, by the same probes (GradientProbe, StaleGradients): on sampled steps every
gradient's and parameter's norm, each parameter's sum and version (a fingerprint: see Fingerprint
for when an unchanged one means no update moves it); on the others the cheap non-finite / 10x
check. The step is the logged loss's: measured when its loss is logged after backward, or, when
the loss is logged before its backward (learnt from a hook on the logged loss's root), at the end
of that backward; and in a loop that clears its gradients before it logs the loss (zero_grad()
right after step(), learnt at the run's start: ClearTiming), at the end of each backward, for the
step logged next.
A read step reaches the detectors once the next backward shows that an update applied its
gradients (a parameter's version changed): as watch()'s steps are optimizer steps, a step no update
followed (a GradScaler's overflow, an accumulation micro-batch) is none; when no update is ever
seen (weights changed through .data), every step counts. The first step's backward ran before any
hook: a first loss logged between backward and step() arms the check on the gradients it finds (a
missing zero_grad() shows at step 1, as with watch()); logged after step(), it arms it too when an
optimizer holding the found parameters stepped before it (EarlyUpdates: a global post-step hook
from the writer's creation until then), for the gradients found were then an update's, not an
accumulation's, which the next backward may add to.

Same StepStats, same detectors: nonfinite_gradient (naming the first parameter backward reaches),
exploding_gradient, vanishing_gradient (layers are the ops that take parameters, first layer
first), missing_zero_grad, frozen_parameters' "nothing is learning". Not known this way: the
optimizer (learning rates, parameters it misses), activations and inputs; the first warning or
error of such a run gets one info event saying that watch(model, optimizer) adds them.

Cost: per backward pass two Python calls per graph (the pre-hooks), and an end callback on the
passes that arm a check (every pass at a run's start or after an alarm, then 1 in `interval`) or
measure a loss logged before them (every pass of a loop that clears its gradients before it logs
the loss); per logged step a few attribute reads per probed parameter, and
on CPU the probe's few small norms (~25 us inside a small MLP's step, most of it the reduction's code
cold after the optimizer's step; on an accelerator, one fused norm of the gradients).
No host sync of its own, by construction: every statistic stays on the device until the writer
reads the loss value (the one transfer SummaryWriter makes anyway), which carries them
(DiagWriter reads them together with S.to_host). On CPU a read costs no sync. Nothing of a batch
is kept: the hook on a logged loss's root is the graph's reference to this object, never the
other way round, and the AccumulateGrad nodes held reference only their parameters.
"""

import dataclasses
from typing import Any, Dict, List, NamedTuple, Optional, Set, Tuple

import torch
from torch.utils.hooks import RemovableHandle

from tb_lossdiag import stats as S
from tb_lossdiag.events import Event
from tb_lossdiag.watch.auto_graph import leaves, param_name, signature
from tb_lossdiag.watch.clearing import ClearTiming
from tb_lossdiag.watch.early import EarlyUpdates
from tb_lossdiag.watch.fingerprint import Fingerprint
from tb_lossdiag.watch.schedule import Schedule
from tb_lossdiag.watch.gradients import GradientProbe
from tb_lossdiag.watch.parameters import Parameters
from tb_lossdiag.watch.record import StepRecord
from tb_lossdiag.watch.stale import StaleGradients
from tb_lossdiag.watch.summaries import SummaryWriting

KIND = "auto_watch"  # the one info event of a swap-only run that ran into trouble


class _Pending(NamedTuple):
    """A measured step awaiting the transfer."""

    record: StepRecord
    sums: Optional[int]  # slot of every parameter's sum (sampled steps)
    changed: Tuple[Tuple[Tuple[str, ...], int], ...]  # (names, slot of their gradients' norms): see Inspection
    # its gradients changed in place since its backward's end: all zero after the read means cleared
    in_place: bool = False
    versions: Tuple[int, ...] = ()  # every parameter's version counter (sampled steps): see Fingerprint


class AutoWatch:
    """The swap-only probes of one DiagWriter; remove() takes every hook off."""

    def __init__(self, writer, early: Optional[EarlyUpdates] = None, every: int = 10, max_every: int = 80):
        self._writer = writer
        self._early = early  # until the first parameters are found
        self._schedule = Schedule(every, max_every)
        self._count = 0  # steps measured: sampling counts these (a loss logged every 100 steps is sampled too)
        self._events_seen = writer.event_count
        self._told = False  # the info event that watch() adds checks
        self._signatures: Set[tuple] = set()
        self._index: Dict[int, int] = {}  # id(parameter) -> its index in named
        self._named: List[Tuple[str, torch.Tensor]] = []
        self._layers: List[str] = []
        self._nodes: List[Any] = []  # the AccumulateGrad nodes held: every forward reuses them (and their ids)
        self._hooked: Set[int] = set()  # ids of the nodes with a pre-hook
        self._handles: List[RemovableHandle] = []
        self._removed = False
        self._sharded = False  # FSDP2: the graph's parameters are unsharded views, freed after backward
        self._parameters = Parameters([])
        self._gradients = GradientProbe(self._parameters)
        self._stale = StaleGradients(self._parameters, after_update=True)
        self._summaries = SummaryWriting(writer, layer_table=True)
        self._root_op: Optional[str] = None
        self._pass: Optional[int] = None  # the autograd graph task of the backward pass last started
        self._backwards = 0  # backward passes started
        self._backward_ran = False  # a backward pass ran since the last step was measured
        self._logged_before_backward = False  # learnt when a logged loss's own backward runs later
        self._clearing = ClearTiming()  # learnt: a loop that clears its gradients before logging the loss
        self._unlogged: Optional[_Pending] = None  # measured so at the last backward's end
        self._claimed: Optional[int] = None  # the step whose logged loss's backward is running
        self._last_step: Optional[int] = None
        self._not_cleared: List[str] = []
        self._changed: List[Tuple[Tuple[str, ...], torch.Tensor]] = []
        self._pending: List[_Pending] = []
        self._read: List[_Pending] = []
        # Read steps, until the next backward shows whether an update applied their gradients: a
        # step no optimizer step followed (a GradScaler's overflow, a micro-batch of gradient
        # accumulation) is no step for the detectors, as for watch(), whose steps are optimizer steps.
        self._held: List[S.StepStats] = []
        self._updates_seen = False  # an update was seen at all (not so when weights change through .data)
        self._fingerprint = Fingerprint([], [])

    @property
    def active(self) -> bool:
        """Whether hooks are on (remove() not called)."""
        return not self._removed

    # -- called by the writer ----------------------------------------------------------------

    def before_read(self, loss: torch.Tensor, step: int) -> List[torch.Tensor]:
        """A training loss tensor is logged at `step`: find its parameters, measure the step if its
        backward ran, and return the statistics to read with the loss's value (device tensors)."""
        self._pass = None  # without graph task ids, the next pre-hook call starts a pass
        root: Any = loss.grad_fn  # not None: the writer hands on losses with a graph only
        if step != self._last_step and not self._sharded:
            if self._find(root) and self._count == 0:
                if any(p.grad is not None for _, p in self._named):
                    # The first loss found is logged after its backward: that backward ran before any
                    # hook was on, so its gradients are measured now and the next backward is checked;
                    # logged after optimizer.step() (seen by the early hook), from an update's
                    # gradients. Their values decide (read with the next step's):
                    # zero_grad(set_to_none=False) may have cleared them in place before this log.
                    self._backward_ran = True
                    self._stale.arm(applied=self._early is not None and self._early.applied(
                        [p for _, p in self._named]), by_value=True)
                else:
                    self._clearing.suspect()
            if not self._backward_ran:
                # No backward ended since the last measured step: this loss's is still to come (if
                # any), and its end is this step's. (A hook per logged loss costs ~5 us: only here.)
                root.register_prehook(_Claim(self, step))
            elif not self._logged_before_backward:
                clearing = self._clearing
                cleared = clearing.before_log if clearing.known else clearing.logged(self._parameters.probed)
                if cleared:  # zero_grad() ran since backward: measured as it ended (if a hook saw it)
                    self._assign(step)
                else:
                    self._unlogged = None
                    self._measure(step, in_place=cleared is None)
            self._stale.seen()
        if self._early is not None and (self._named or self._sharded):  # found: the early hook's work is done
            self._early.remove()
            self._early = None
        return self._pending_tensors()

    def _pending_tensors(self) -> List[torch.Tensor]:
        """The statistic tensors of the measured steps not read yet, in order."""
        return [t for pending in self._pending for t in pending.record.tensors]

    def after_read(self, values: List[List[float]]) -> None:
        """The values of what before_read returned, in its order."""
        start = 0
        for pending in self._pending:
            record = pending.record
            record.values = values[start:start + len(record.tensors)]
            start += len(record.tensors)
            record.tensors = []
        self._read.extend(self._pending)
        self._pending = []

    def deliver(self, step: int, applied: Optional[bool] = None) -> None:
        """Hand the read steps to the detectors (outside any guard: stop_on_error's
        DiagnosticError must reach the training loop); `step` is the one now logged or ended;
        `applied`: whether the held steps' gradients were applied by an update (None: not known yet)."""
        if not self._read and applied is None:  # most steps: nothing read, nothing held is decided
            if self._writer.event_count != self._events_seen:
                self._adapt([], step)
            return
        read, self._read = self._read, []
        ready: List[S.StepStats] = []
        with self._writer.guard("auto watch: statistics", step):
            self._held += [stats for stats in map(self._step_stats, read) if stats is not None]
            if applied is not None:
                self._updates_seen = self._updates_seen or applied
                ready, self._held = self._held, []
                if not applied and self._updates_seen:
                    ready = []
            for stats in ready:
                if stats.sampled:
                    self._summaries.write(stats)
        for stats in ready:
            self._writer.observe_step(stats)
        self._adapt(ready, step)

    def remove(self) -> None:
        """Take every hook off, let go of the nodes, and hand on what is still pending."""
        self._removed = True
        if self._early is not None:
            self._early.remove()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._hooked.clear()
        self._nodes.clear()
        self._unlogged = None  # no loss was logged after it
        if self._pending:
            with self._writer.guard("auto watch: statistics", self._pending[-1].record.step):
                self.after_read(S.to_host(self._pending_tensors()))
        self._pending = []
        # The held steps count when an update followed them (an optimizer step ran since).
        self.deliver(self._last_step if self._last_step is not None else 0, self._stale.updated())
        self._stale.disarm()

    # -- the graph -----------------------------------------------------------------------------

    def _find(self, root) -> bool:
        """Extend the parameters with those of a graph not seen before (looked at when the root op
        changes and on sampled steps: a new head is found by the next sampled step at the latest);
        whether any was new."""
        name = root.name()
        if name == self._root_op and not self._schedule.sampled(self._count):
            return False
        self._root_op = name
        key = signature(root)
        if key in self._signatures:
            return False
        self._signatures.add(key)
        found = leaves(root)
        new = [leaf for leaf in found if id(leaf.node.variable) not in self._index]
        if not new:
            return False
        if any(0 == leaf.node.variable.untyped_storage().size() < leaf.node.variable.numel() for leaf in new):
            # FSDP2: the graph holds the unsharded parameters, freed after backward, whose gradients
            # go to the sharded ones: nothing here to measure. watch() measures the sharded ones.
            self._sharded = self._told = True
            self._writer.record([self._watch_adds(self._last_step or 0, sharded=True)])
            return False
        first_layer = len(set(self._layers))
        for leaf in new:
            param = leaf.node.variable
            self._index[id(param)] = len(self._named)
            self._named.append((param_name(len(self._named), param.shape, leaf.op), param))
            self._layers.append(f"{leaf.op} #{first_layer + leaf.layer}")
            self._nodes.append(leaf.node)
        # Two pre-hooks per graph, not one per parameter (a Python call each, every backward): the
        # leaf backward reaches first starts the pass, and the last one (the input-most layer) is
        # shared by the heads that extend the graph. A leaf's pre-hook runs before its own gradient
        # accumulates, so the start's check sees at least that one; any accumulated before it are
        # passed over by the check, never taken for stale.
        for leaf in (found[0], found[-1]):
            if id(leaf.node) not in self._hooked:
                self._hooked.add(id(leaf.node))
                self._handles.append(leaf.node.register_prehook(self._reached))
        # A parameter's layer is the op that takes it (no module path is known).
        self._parameters = Parameters(self._named, layer_of=self._layers)
        self._gradients = GradientProbe(self._parameters)
        self._stale = StaleGradients(self._parameters, after_update=True)
        self._fingerprint = Fingerprint([name for name, _ in self._named], self._parameters.numel)
        return True

    # -- backward -----------------------------------------------------------------------------

    def _reached(self, grad_outputs):
        """Before a parameter's gradient accumulates; the first call of a backward pass is its start."""
        task = _graph_task()
        if task == self._pass:
            return None  # this pass's start was seen (the graph's other pre-hook)
        self._pass = task
        self._backwards += 1
        self._backward_ran = True
        stale = self._stale
        if self._held:  # they count if an update applied their gradients since (raises stop_on_error's error)
            self.deliver(self._held[-1].step, stale.updated())
        try:
            if self._claimed is not None or self._clearing.before_log or self._schedule.checks(self._backwards):
                # Runs once this backward pass has finished, with the gradients complete: to measure the
                # loss logged before it (or after a clear), or to arm the next pass's check. Most passes
                # need none of these (a callback costs ~10 us inside a step).
                torch.autograd.Variable._execution_engine.queue_callback(self._backward_ends)
            if stale.armed:  # most passes of a calm run: nothing was armed (this runs every pass)
                found = stale.inspect()
                self._not_cleared.extend(found.stale)
                if found.changed:  # their values tell: read with the step's transfer
                    names, grads = zip(*found.changed)
                    self._changed.append((names, S.norms(list(grads))))
            stale.mark()
        except Exception as error:
            self._failed("auto watch: gradients", error)
        return None

    def _backward_ends(self) -> None:
        try:
            self._stale.arm(gradients=self._schedule.checks(self._backwards))
            if self._claimed is not None:
                step, self._claimed = self._claimed, None
                self._measure(step)
                if self._pending and not self._pending[-1].record.on_device:  # a CPU read costs no sync: read now
                    self.after_read(S.to_host(self._pending_tensors()))
            elif self._clearing.before_log:
                self._unlogged = None  # measured at a pass no loss was logged after: replaced
                self._measure(None)
            self._clearing.backward_ended(self._parameters.probed)
        except Exception as error:
            self._failed("auto watch: gradients", error)
        if self._read:
            self.deliver(self._read[-1].record.step)

    def claim(self, step: int) -> None:
        """The backward now starting is that of the loss logged at `step`."""
        self._logged_before_backward = True
        self._clearing.logged_before_backward()
        self._claimed = step

    def _failed(self, where: str, error: Exception) -> None:
        with self._writer.guard(where, self._last_step if self._last_step is not None else 0):
            raise error

    # -- steps --------------------------------------------------------------------------------

    def _measure(self, step: Optional[int], in_place: bool = False) -> None:
        """Queue the step's statistics: the gradients as watch() measures them, sums of the
        parameters on sampled steps, and what the last backward's start found. `step` None: at a
        backward's end, for the step logged next (_assign)."""
        sampled = self._schedule.sampled(self._count)
        if step is not None:
            self._step_measured(step)
        flagged = None if sampled or in_place else self._gradients.flag()  # in place: every norm decides
        if flagged is False and not self._not_cleared and not self._changed:
            return  # an unsampled step its CPU probe found calm: nothing to read, nothing reaches the detectors
        record = StepRecord(step if step is not None else -1, sampled)
        record.flagged = flagged
        if flagged is not False:
            self._gradients.measure_all(record)
        sums = None
        versions: Tuple[int, ...] = ()
        if record.sampled and self._named:
            with torch.no_grad():
                sums = record.add(torch.stack([t.sum(dtype=torch.float32) for t in S.local([p for _, p in self._named])]))
            versions = tuple(p._version for _, p in self._named)
        record.not_cleared, self._not_cleared = self._not_cleared, []
        changed = tuple((names, record.add(norms)) for names, norms in self._changed)
        self._changed = []
        pending = _Pending(record, sums, changed, in_place, versions)
        if step is None:
            self._unlogged = pending
        else:
            self._pending.append(pending)

    def _step_measured(self, step: int) -> None:
        """`step` is measured (its statistics queued, or its CPU probe found it calm): sampling counts it."""
        self._backward_ran = False
        self._last_step = step
        self._count += 1

    def _assign(self, step: int) -> None:
        """The loss of `step` is logged after a clear: its gradients are those measured at the last
        backward's end."""
        self._step_measured(step)
        if self._unlogged is not None:
            self._unlogged.record.step = step
            self._pending.append(self._unlogged)
            self._unlogged = None

    def _step_stats(self, pending: _Pending) -> Optional[S.StepStats]:
        """The StepStats of a read step, or None when nothing in it reaches the detectors."""
        record = pending.record
        values = record.values
        if pending.in_place and self._clearing.read(list(self._gradients.norms(record).values())):
            return None  # zeroed before the loss was logged: measured at each backward's end from now on
        record.not_cleared += [name for names, slot in pending.changed
                               for name, norm in zip(names, values[slot]) if norm != 0]
        if not (self._gradients.review(record) or record.not_cleared):
            return None
        grad_norms = self._gradients.norms(record)
        layers: Tuple[S.LayerStats, ...] = ()
        unchanged: Tuple[str, ...] = ()
        if record.sampled:
            weights = self._gradients.weights(record)
            layers = self._parameters.layers(grad_norms, weights, ())
            still, unchanged = self._fingerprint.compare(weights or (), values[pending.sums] if pending.sums is not None
                                                         else (), grad_norms, pending.versions)
            if still:  # exactly no update (no ratio is known otherwise: no optimizer step is seen)
                layers = tuple(dataclasses.replace(layer, update_ratio=0.0) for layer in layers)
            layers = layers[::-1]  # first layer first: backward reaches the output layer first
        return S.StepStats(step=record.step, sampled=record.sampled, grad_norms=grad_norms,
                           grads_not_cleared=tuple(record.not_cleared), layers=layers, unchanged=unchanged)

    def _adapt(self, ready: List[S.StepStats], step: int) -> None:
        """watch()'s schedule: back to `every` at any alarm or flagged step, relaxing while calm;
        the first alarm of the run also says what watch() would add."""
        if not ready and self._writer.event_count == self._events_seen:
            return  # most steps: nothing read, nothing recorded since; the schedule stays as it is
        alarmed = self._writer.alarmed_since(self._events_seen)
        self._events_seen = self._writer.event_count
        flagged = any(not stats.sampled for stats in ready)
        self._schedule.adapt(alarmed or flagged, sum(stats.sampled for stats in ready))
        if alarmed and not self._told:
            self._told = True
            self._writer.record([self._watch_adds(step)])

    def _watch_adds(self, step: int, sharded: bool = False) -> Event:
        checked = (f"only the loss curve and the gradients of the {len(self._named)} parameters found in "
                   "the loss's autograd graph were checked (no watch() call): " if not sharded else
                   "only the loss curve was checked (no watch() call): the parameters in the loss's autograd "
                   "graph are a sharded model's (FSDP) unsharded copies, freed after backward; gradient checks, ")
        return Event(
            step=step, kind=KIND, severity="info", tag="gradients",
            message=f"{checked}activation statistics (dead or saturated units, the layer where a NaN starts), "
                    "input checks (a NaN or unnormalized batch) and the optimizer's checks need the model "
                    "and the optimizer",
            hint="writer.watch(model, optimizer) adds them.",
            category="model",
        )


def _NO_TASK_IDS() -> int:
    """The one id of every pass where torch has no graph task ids (before 2.1): a pass is then new
    when a loss was logged since the last one (the passes of one logged step count as one)."""
    return 0


# The id of the autograd graph task (backward pass) running now: one C call tells one pass from the
# next, with no callback at each pass's end.
_graph_task = getattr(torch._C, "_current_graph_task_id", _NO_TASK_IDS)


class _Claim:
    """A pre-hook on a logged loss's root: it runs only if that loss's backward comes after
    add_scalar. The graph holds it (and so the watcher) until the graph is freed, never the other
    way round; once the watcher is removed it does nothing."""

    __slots__ = ("watch", "step")

    def __init__(self, watch: AutoWatch, step: int):
        self.watch, self.step = watch, step

    def __call__(self, grad_outputs):
        if self.watch.active:
            self.watch.claim(self.step)
        return None
