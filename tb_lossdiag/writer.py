"""DiagWriter: a SummaryWriter that also diagnoses the losses it is given."""

import atexit
import dataclasses
import logging
import math
import os
import time
import uuid
import warnings
import weakref
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import torch
from tensorboard.compat.proto.event_pb2 import Event as EventProto
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter

from tb_lossdiag import diagnosis, metadata, summary
from tb_lossdiag import stats as S
from tb_lossdiag.data import prepare_check
from tb_lossdiag.detectors import Detector, LossPoint
from tb_lossdiag.diagnoser import Diagnoser, failure_event
from tb_lossdiag.events import Event
from tb_lossdiag.graph import describe_loss, with_makers
from tb_lossdiag.tags import DEFAULT_LOSS_RULE, DEFAULT_VALIDATION_RULE, TagRule, matcher

logger = logging.getLogger("tb_lossdiag")

_LOG_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class DiagnosticError(RuntimeError):
    """Raised by a DiagWriter made with stop_on_error=True at the first error-severity event, with the
    run's diagnosis: its root cause (which may be an earlier warning) and the fix."""

    def __init__(self, event: Event, events: Sequence[Event] = ()):
        found = diagnosis.diagnose(events or [event])
        super().__init__(f"step {event.step}: {event.kind} on {event.tag!r}: {event.message}\n"
                         f"{diagnosis.describe(found)}")
        self.event = event  # the error that stopped training
        self.diagnosis = found[0] if found else None  # its root cause, a tb_lossdiag.diagnosis.Diagnosis


class DiagWriter(SummaryWriter):
    """SummaryWriter that diagnoses loss scalars as they are written and records why they misbehave.

    Everything SummaryWriter writes is written unchanged; DiagWriter only adds records of plugin
    `lossdiag`. Tags matching `loss_tags` (default: containing "loss") feed the loss detectors;
    those matching `validation_tags` count as validation losses.

    Without watch(), a training loss logged as a tensor also gets the gradient checks: the
    parameters its autograd graph reaches are probed (non-finite, exploding and vanishing gradients,
    a missing zero_grad(), parameters that never change); `auto_watch=False` turns that off.
    """

    def __init__(
        self,
        log_dir=None,
        comment="",
        purge_step=None,
        max_queue=10,
        flush_secs=120,
        filename_suffix="",
        *,
        loss_tags: TagRule = DEFAULT_LOSS_RULE,
        validation_tags: TagRule = DEFAULT_VALIDATION_RULE,
        detectors: Optional[Iterable[Detector]] = None,
        tune: Optional[Mapping[str, Mapping]] = None,
        disable: Sequence[str] = (),
        stop_on_error: bool = False,
        auto_watch: bool = True,
    ):
        # Validate everything before SummaryWriter creates files, so a typo leaves no empty run.
        self._diagnoser = Diagnoser(detectors, tune, disable)
        self._is_loss = matcher(loss_tags, "loss_tags")
        self._is_validation = matcher(validation_tags, "validation_tags")
        self._stop_on_error = stop_on_error
        self._stop_event: Optional[Event] = None
        self._events: List[Event] = []
        self._failed: Set[str] = set()
        self._write_failed = False  # a diagnostic record could not be written (warned once)
        self._auto_steps: Dict[str, int] = {}
        self._tag_roles: Dict[str, Tuple[bool, bool]] = {}  # tag -> (is a loss, is a validation loss): matched once per tag
        self._loss_tags: List[str] = []  # tags diagnosed as losses, first seen first: in every record
        self._new_loss_tag = False  # a loss tag no record holds yet: the next record is written even if empty
        self._graphs: Dict[str, Tuple[Optional[str], Any]] = {}  # tag -> (name of the loss tensor's grad_fn, its LossGraph)
        self._watches: List[Any] = []  # the Watch handles of watch() calls
        # Swap-only: without watch(), a logged loss tensor's graph leads to the parameters it trains
        # (tb_lossdiag.watch.auto); off with auto_watch=False, and for good once watch() is called.
        self._auto_watch = auto_watch
        self._auto = None
        self._early = None  # swap-only: the optimizer steps before the first loss tensor (watch.early.EarlyUpdates)
        self._rank = _distributed_rank()
        self._record_tag = metadata.TAG_PREFIX + uuid.uuid4().hex[:12]
        self._record_step = 0
        super().__init__(log_dir, comment, purge_step, max_queue, flush_secs, filename_suffix)
        if auto_watch:
            from tb_lossdiag.watch.early import EarlyUpdates

            self._early = EarlyUpdates()
            weakref.finalize(self, self._early.remove)  # a writer dropped without close() leaves no global hook
        # A run that ends without close() (or with Ctrl-C) still gets its last records on disk.
        self_ref = weakref.ref(self)

        def flush_at_exit():
            writer = self_ref()
            if writer is not None:
                writer.flush()

        self._atexit = flush_at_exit
        atexit.register(self._atexit)

    @property
    def events(self) -> List[Event]:
        """Every diagnostic event found so far, in the order found (loss values still waiting
        for their batch are diagnosed first)."""
        if self.all_writers is not None:
            self._drain()
        return list(self._events)

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False, double_precision=False):
        """SummaryWriter.add_scalar, then the loss detectors when `tag` names a loss."""
        is_loss = self._roles(tag)[0]
        graph, step = None, 0
        if is_loss:
            step = self._step_of(tag, global_step)
            scalar_value, graph = self._read_loss(tag, scalar_value, step)
        if type(scalar_value) is float and not new_style:
            # SummaryWriter.add_scalar's record, made directly: its way there (make_np's numpy array,
            # a Summary, then an Event around it) costs ~30 us more inside a training step.
            record = EventProto(summary=Summary(value=[Summary.Value(tag=tag, simple_value=scalar_value)]))
            self._get_file_writer().add_event(record, global_step, walltime)
        else:
            super().add_scalar(tag, scalar_value, global_step, walltime, new_style, double_precision)
        if is_loss:
            self._observe_loss(tag, scalar_value, step, graph)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """SummaryWriter.add_scalars, then the loss detectors for each "main_tag/key" naming a loss."""
        losses, values = {}, {}
        for key, value in tag_scalar_dict.items():
            full_tag = f"{main_tag}/{key}"
            if self._roles(full_tag)[0]:
                step = self._step_of(full_tag, global_step)
                value, graph = self._read_loss(full_tag, value, step)
                losses[full_tag] = (value, step, graph)
            values[key] = value
        super().add_scalars(main_tag, values, global_step, walltime)
        for full_tag, (value, step, graph) in losses.items():
            self._observe_loss(full_tag, value, step, graph)

    def watch(self, model, optimizer=None, **options):
        """Install probes on `model` (and `optimizer`); returns a handle whose remove() takes them off.
        It takes over from the swap-only gradient checks (their hooks come off)."""
        from tb_lossdiag.watch import Watch

        handle = Watch(self, model, optimizer, **options)
        self._stop_auto()
        self._watches.append(handle)
        return handle

    def check_data(self, data, step: int = -1, name: str = "train", **options) -> List[Event]:
        """Record and return what in `data` (DataFrame, Dataset, DataLoader, batch, tensor) will poison the loss."""
        check = prepare_check(data, step=step, name=name, **options)  # wrong arguments raise here, unguarded
        before = self.event_count
        found: List[Event] = []
        with self.guard(f"data check of {name!r}", step):
            found = check(self._diagnoser)  # the data detectors, as tuned and disabled for this writer
        self.record(found)
        return self._events[before:]

    def flush(self):
        """Record what the detectors still hold, then flush every record to disk."""
        if self.all_writers is not None:
            self._drain()
            super().flush()

    def close(self):
        """Remove every watch() hook, record what the detectors still hold, then close as SummaryWriter does."""
        for handle in self._watches:
            handle.remove()
        self._watches.clear()
        self._stop_auto()
        if self.all_writers is not None:
            self._drain()
        atexit.unregister(self._atexit)
        super().close()

    # -- used by watch() -------------------------------------------------------------------

    def observe_step(self, stats) -> None:
        """Run the model detectors on one sampled step's statistics and record what they find."""
        with self.guard("model detectors", stats.step):
            self._record(self._diagnoser.step(stats))
        self._maybe_stop()

    def record(self, events: Iterable[Event]) -> None:
        """Write `events` found outside the detectors (e.g. by a data check)."""
        self._record(list(events))
        self._maybe_stop()

    def guard(self, where: str, step: int) -> "_Guard":
        """A context that turns a failure of tb_lossdiag code inside it into a diagnostic_failure
        event (the first one per `where`) instead of an exception; training goes on."""
        return _Guard(self, where, step)


    @property
    def event_count(self) -> int:
        """How many events are recorded so far (loss values the deferrable detectors still hold
        are not diagnosed yet): a mark to pass to alarmed_since()."""
        return len(self._events)

    def alarmed_since(self, mark: int) -> bool:
        """Whether a warning or error was recorded after event_count was `mark`."""
        return any(e.severity != "info" for e in self._events[mark:])

    def write_summary(self, summary, step: int) -> None:
        """Write a tensorboard Summary proto (e.g. watch()'s diag/ scalars) at `step` to this run."""
        self._get_file_writer().add_summary(summary, step)

    def _failure(self, where: str, error: Exception, step: int) -> None:
        if where not in self._failed:
            self._failed.add(where)
            # The failing code (a watch() hook, a data check) stays in place and runs again.
            self._record([failure_event(where, error, step, "keeps running (later failures there are not reported)")])

    # -- internals ------------------------------------------------------------------------

    def _drain(self):
        """Record the events of loss values the deferrable detectors have not seen yet."""
        last_step = max(self._auto_steps.values(), default=0)
        with self.guard("loss detectors", last_step):
            self._record(self._diagnoser.flush())

    def _roles(self, tag):
        roles = self._tag_roles.get(tag)
        if roles is None:
            roles = self._tag_roles[tag] = (bool(self._is_loss(tag)), bool(self._is_validation(tag)))
            if roles[0]:
                self._loss_tags.append(tag)
                self._new_loss_tag = True
        return roles

    def _read_loss(self, tag, value, step):
        """(the value to write, its LossGraph or None): a loss tensor is read here, once."""
        if not isinstance(value, torch.Tensor):
            self._drop_early()  # a float loss: no graph will need the steps before it
            return value, None
        graph = self._loss_graph(tag, value)
        _one_value(tag, value)
        # The one host transfer SummaryWriter would make anyway (passing the float on writes the
        # same record); the swap-only checks' statistics ride along with it.
        number = None
        with self.guard("auto watch", step):
            auto = self._auto_for(tag, value)
            if auto is not None:
                extra = auto.before_read(value, step)
                if extra:  # most steps: nothing to read with the loss
                    values = S.to_host([value, *extra])
                    number = values[0][0]  # a float: the loss is floating, as its graph says
                    auto.after_read(values[1:])
        if number is None:
            number = value.item()  # no detach(): item() reads a tensor that requires grad as it is
        if graph.makers is None and not math.isfinite(number):
            graph = with_makers(graph, value)  # what may have made it NaN/Inf: read only now
        for handle in self._watches:  # watch() reads the loss's divisions and logs (guarded)
            handle.saw_loss(value, number)
        return number, graph

    def _loss_graph(self, tag, tensor):
        """The LossGraph of a loss tensor, re-read only when the graph's root op changes."""
        root = tensor.grad_fn
        name = root.name() if root is not None else None
        cached = self._graphs.get(tag)
        if cached is None or cached[0] != name:
            cached = self._graphs[tag] = (name, describe_loss(tensor))
        return cached[1]

    def _auto_for(self, tag, tensor):
        """The swap-only watcher when it should see this loss tensor (a training loss with a graph,
        no watch()), created at the first one; else None."""
        if not self._auto_watch or tensor.grad_fn is None or self._roles(tag)[1]:
            return None
        if self._auto is None:
            from tb_lossdiag.watch.auto import AutoWatch

            early, self._early = self._early, None
            self._auto = AutoWatch(self, early)
        return self._auto

    def _drop_early(self):
        if self._early is not None:
            early, self._early = self._early, None
            early.remove()

    def _stop_auto(self):
        self._auto_watch = False
        self._drop_early()
        if self._auto is not None:
            auto, self._auto = self._auto, None
            auto.remove()

    def _observe_loss(self, tag, value, step, graph):
        with self.guard("loss detectors", step):
            point = LossPoint(
                tag=tag,
                step=step,
                value=float(value),
                is_validation=self._roles(tag)[1],
                graph=graph,
            )
            self._record(self._diagnoser.loss(point))
        self._maybe_stop()
        if self._auto is not None:
            self._auto.deliver(step)

    def _step_of(self, tag, global_step):
        if global_step is None:
            step = self._auto_steps.get(tag, -1) + 1
        else:
            step = int(global_step)
        self._auto_steps[tag] = step
        return step

    def _record(self, events: List[Event]) -> None:
        # The first record is written even when empty: it marks the run as diagnosed, so a healthy
        # DiagWriter run is told apart from a plain SummaryWriter run.
        if not events and self._record_step > 0 and not self._new_loss_tag:
            return
        self._new_loss_tag = False
        now = time.time()
        events = [dataclasses.replace(e, wall_time=e.wall_time or now, rank=self._rank) for e in events]
        self._events.extend(events)
        for event in events:
            logger.log(
                _LOG_LEVELS[event.severity],
                "step %d %s [%s]: %s. Fix: %s",
                event.step, event.kind, event.tag, event.message, event.hint,
            )
        writer = self._get_file_writer()
        errors = [e for e in events if e.severity == "error"]
        try:
            writer.add_summary(summary.events_summary(self._record_tag, events, loss_tags=self._loss_tags),
                               self._record_step, now)
            if errors:
                writer.flush()  # an error must survive a crash that follows it
        except OSError as error:  # e.g. a full disk: training goes on, the events stay in .events
            if not self._write_failed:
                self._write_failed = True
                warnings.warn(f"tb_lossdiag could not write its diagnostic records ({error}); training "
                              "goes on and the events stay in writer.events", RuntimeWarning, stacklevel=2)
        self._record_step += 1
        if errors:
            if self._stop_on_error and self._stop_event is None:
                self._stop_event = errors[0]

    def _maybe_stop(self):
        """Raise DiagnosticError once, for the first error, when stop_on_error is set."""
        if self._stop_event is not None and self._stop_on_error:
            event, self._stop_on_error = self._stop_event, False
            raise DiagnosticError(event, self._events)


class _Guard:
    """DiagWriter.guard's context: a class, as it is entered for every logged loss value (a
    generator-based contextmanager costs several times more to enter and leave)."""

    __slots__ = ("writer", "where", "step")

    def __init__(self, writer: DiagWriter, where: str, step: int):
        self.writer, self.where, self.step = writer, where, step

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, Exception):
            self.writer._failure(self.where, error, self.step)
            return True
        return False


def _one_value(tag: str, tensor: torch.Tensor) -> None:
    if tensor.numel() != 1:
        raise ValueError(
            f"add_scalar({tag!r}, ...) got a loss tensor of shape {tuple(tensor.shape)}; a loss tag "
            "needs one value: reduce it first (loss.mean(), or reduction='mean' in the loss "
            "function), or log it under a tag without 'loss'"
        )


def rank_log_dir(logdir: str) -> str:
    """`logdir` on rank 0 (and without torch.distributed), `logdir/rank<N>` on rank N: one run per rank."""
    rank = _distributed_rank()
    return logdir if rank == 0 else os.path.join(logdir, f"rank{rank}")


def _distributed_rank() -> int:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0
