"""Routes observations to the detectors and contains their failures (pure: it never writes)."""

import math
import time
import warnings
from typing import Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from tb_lossdiag.detectors import Detector, LossPoint, default_detectors
from tb_lossdiag.events import Event

FAILURE_KIND = "diagnostic_failure"
# Deferrable detectors receive loss values together, at most this many, and none held longer than
# DEFER_SECONDS: in a batch their statistics stay in the CPU's caches, several times cheaper per
# value inside a training step (whose own work evicts them) than one call per value. Their events
# keep the steps of the values; only finding them waits (TensorBoard sees records seconds later anyway).
# 128 values: ~15 us a value in a 5 ms MLP step, against ~25 us at 32 (timed inside real steps).
DEFER_VALUES = 128
DEFER_SECONDS = 1.0
REPLAY_VALUES = 4096  # values each detector takes in turn in replay()


class Curves(NamedTuple):
    """Loss values of one or more tags in the order they were logged, by columns: value i is
    `values[i]` at step `steps[i]` of tag `tags[codes[i]]`."""

    tags: Sequence[str]
    validation: Sequence[bool]  # per tag: whether it is a validation curve
    codes: np.ndarray
    steps: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, points: Sequence[LossPoint]) -> "Curves":
        """The columns of LossPoints (their graphs left out)."""
        code: Dict[tuple, int] = {}
        codes = [code.setdefault((p.tag, p.is_validation), len(code)) for p in points]
        return cls([tag for tag, _ in code], [validation for _, validation in code], np.array(codes, dtype=np.int64),
                   np.array([p.step for p in points], dtype=np.int64), np.array([p.value for p in points], dtype=float))


class Diagnoser:
    """The detectors of one run."""

    def __init__(
        self,
        detectors: Optional[Iterable[Detector]] = None,
        tune: Optional[Mapping[str, Mapping]] = None,
        disable: Sequence[str] = (),
    ):
        chosen = list(default_detectors() if detectors is None else detectors)
        for det in chosen:
            if not isinstance(det, Detector):
                raise TypeError(
                    f"detectors must be Detector instances, got {type(det).__name__}; "
                    "subclass tb_lossdiag.Detector and pass an instance"
                )
        known = {det.id for det in chosen}
        for name in list(tune or {}) + list(disable):
            if name not in known:
                raise ValueError(f"unknown detector {name!r}; known detectors: {sorted(known)}")
        tune = tune or {}
        self.detectors: List[Detector] = [
            type(det)(**tune[det.id]) if det.id in tune else det
            for det in chosen
            if det.id not in disable
        ]
        # Per channel, only the detectors that override it: a no-op call per value adds up.
        overriding = {
            method: [d for d in self.detectors if getattr(type(d), method) is not getattr(Detector, method)]
            for method in ("on_loss", "on_step")
        }
        self._listeners = {
            "loss": overriding["on_loss"],
            "on_loss": [d for d in overriding["on_loss"] if not d.deferrable],
            "deferred": [d for d in overriding["on_loss"] if d.deferrable],
            "on_step": overriding["on_step"],
            # Data detectors (detectors/_data.py) add on_data; the base Detector has no such channel.
            "on_data": [d for d in self.detectors if callable(getattr(d, "on_data", None))],
        }
        self._deferred: List = []  # loss points the deferrable detectors have not seen yet
        self._deferred_since = 0.0  # time.monotonic() of the oldest of them
        self._graphs: Dict[str, object] = {}  # tag -> the LossGraph of its last value (or None)

    def loss(self, point) -> List[Event]:
        """New events for one logged loss value (deferrable detectors see values in batches)."""
        new = self._dispatch("on_loss", point, point.step) if self._listeners["on_loss"] else []
        deferred = self._deferred
        if not deferred:
            self._deferred_since = time.monotonic()
        deferred.append(point)
        if (self._urgent(point) or len(deferred) >= DEFER_VALUES
                or time.monotonic() - self._deferred_since >= DEFER_SECONDS):
            new.extend(self.flush())
        return new

    def _urgent(self, point) -> bool:
        """Whether the value may be an error by itself, to be found at its own step (stop_on_error):
        not finite, negative, or its loss graph is new (the built-in graph checks look once).
        Remembers the tag's graph, so call it once per value."""
        if self._graphs.get(point.tag) is not point.graph:
            self._graphs[point.tag] = point.graph
            return True
        return not 0.0 <= point.value < math.inf

    def flush(self) -> List[Event]:
        """Events of the loss values the deferrable detectors have not seen yet."""
        points, self._deferred = self._deferred, []
        return self._replay(points, "deferred")

    def replay(self, curves) -> List[Event]:
        """Events for many loss values at once (an offline scan of whole curves: Curves, or LossPoints
        without graphs), as loss() of each then flush() would find them, in the order of the values,
        then of the detectors."""
        if not isinstance(curves, Curves):
            curves = Curves.of(curves)
        # In chunks, each detector taking a chunk in turn: the detectors of one tag then meet the same
        # blocks of values while their statistics are cached. A detector with on_losses() takes all of
        # a tag's values of the chunk as arrays (most of them only bookkeeping, done in bulk).
        found = []
        for start in range(0, len(curves.values), REPLAY_VALUES):
            found.extend(self._replay_chunk(_Chunk(curves, start, start + REPLAY_VALUES)))
        return found

    def _replay_chunk(self, chunk: "_Chunk") -> List[Event]:
        found = []  # (value index, detector index, events)
        for order, det in enumerate(list(self._listeners["loss"])):
            many = getattr(det, "on_losses", None)
            if many is None:
                found.extend(self._each(det, order, chunk.points()))
                continue
            first = 0
            try:
                for tag, validation, positions, steps, values in chunk.runs(getattr(det, "key", None)):
                    first = int(positions[0])
                    found.extend((int(positions[index]), order, events)
                                 for index, events in many(tag, steps, values, validation))
            except Exception as error:  # a detector bug must never reach the training loop
                self._switch_off(det)
                # Off from that run of values on, as value by value (a tag taken before may have gone past it).
                found = [item for item in found if item[1] != order or item[0] < first]
                found.append((first, order, [failure_event(f"detector {det.id}", error, int(chunk.steps[first]),
                                                           "was switched off")]))
        found.sort(key=lambda item: item[:2])
        return [event for _, _, events in found for event in events]

    def _replay(self, points: Sequence, channel: str) -> List[Event]:
        found = []
        for order, det in enumerate(list(self._listeners[channel])):
            found.extend(self._each(det, order, points))
        found.sort(key=lambda item: item[:2])
        return [event for _, _, events in found for event in events]

    def _each(self, det: Detector, order: int, points: Sequence) -> List[tuple]:
        """(value index, `order`, events) of `det` taking all the values in turn: its state stays in
        the CPU's caches, and the per-call lookups are made once."""
        found = []
        on_loss = det.on_loss
        index = 0
        try:
            for index, point in enumerate(points):
                events = on_loss(point)
                if events:
                    found.append((index, order, events))
        except Exception as error:  # a detector bug must never reach the training loop
            self._switch_off(det)
            found.append((index, order, [failure_event(f"detector {det.id}", error, points[index].step,
                                                       "was switched off")]))
        return found

    def step(self, stats) -> List[Event]:
        """New events for one step's model statistics."""
        return self._dispatch("on_step", stats, stats.step)

    def data(self, observation) -> List[Event]:
        """New events for one observation of a data check (tb_lossdiag.data)."""
        return self._dispatch("on_data", observation, observation.step)

    def _dispatch(self, method: str, observation, step: int) -> List[Event]:
        new: List[Event] = []
        call = method if method in ("on_step", "on_data") else "on_loss"
        # A copy: switching a detector off edits the lists, and the next one must still see this.
        for det in list(self._listeners[method]):
            try:
                new.extend(getattr(det, call)(observation))
            except Exception as error:  # a detector bug must never reach the training loop
                self._switch_off(det)
                new.append(failure_event(f"detector {det.id}", error, step, "was switched off"))
        return new

    def _switch_off(self, det: Detector) -> None:
        """Remove a failing detector from every channel."""
        self.detectors.remove(det)
        for listeners in self._listeners.values():
            if det in listeners:
                listeners.remove(det)


def failure_event(where: str, error: BaseException, step: int, outcome: str) -> Event:
    """A diagnostic_failure event, also issued as a Python warning; `outcome` says what became of
    the failing part (e.g. "was switched off")."""
    event = Event(
        step=step,
        kind=FAILURE_KIND,
        severity="warning",
        tag=where,
        message=f"tb_lossdiag's {where} failed and {outcome}: "
        f"{type(error).__name__}: {error}",
        hint="Training is unaffected. Please report this with the message above.",
        category="model",
    )
    warnings.warn(event.message, RuntimeWarning, stacklevel=4)
    return event


class _Chunk:
    """Consecutive values of replayed Curves, as each kind of detector takes them."""

    def __init__(self, curves: Curves, start: int, stop: int):
        self.curves = curves
        self.codes, self.steps, self.values = (column[start:stop] for column in (curves.codes, curves.steps, curves.values))
        self._points: List[LossPoint] = []
        self._tags: Dict[int, tuple] = {}  # code -> (positions, steps, values), shared by the detectors
        _, firsts = np.unique(self.codes, return_index=True)
        self.present = self.codes[np.sort(firsts)].tolist()  # the tags' codes, in order of first value

    def points(self) -> List[LossPoint]:
        """The values as LossPoints (made once, for the detectors without on_losses)."""
        if not self._points:
            tags, validation = self.curves.tags, self.curves.validation
            self._points = [LossPoint(tags[code], step, value, validation[code]) for code, step, value
                            in zip(self.codes.tolist(), self.steps.tolist(), self.values.tolist())]
        return self._points

    def runs(self, key=None) -> Iterator[tuple]:
        """(tag, validation, positions, steps, values) of each tag's values, in order; the tags whose
        `key` is one state (overfitting's families) in runs of one tag, in the order of their values."""
        groups: Dict[object, List[int]] = {}
        for code in self.present:
            groups.setdefault(code if key is None else key(self.curves.tags[code]), []).append(code)
        for codes in groups.values():
            if len(codes) == 1:
                yield (self.curves.tags[codes[0]], self.curves.validation[codes[0]], *self._tag(codes[0]))
                continue
            positions = np.flatnonzero(np.isin(self.codes, codes))
            order = self.codes[positions]
            cuts = (np.flatnonzero(order[1:] != order[:-1]) + 1).tolist()
            for start, stop in zip([0, *cuts], [*cuts, len(order)]):
                code, run = int(order[start]), positions[start:stop]
                yield self.curves.tags[code], self.curves.validation[code], run, self.steps[run], self.values[run]

    def _tag(self, code: int) -> tuple:
        """(positions, steps, values) of one tag's values: views when the chunk holds no other tag."""
        if code not in self._tags:
            if len(self.present) == 1:
                self._tags[code] = (np.arange(len(self.codes)), self.steps, self.values)
            else:
                positions = np.flatnonzero(self.codes == code)
                self._tags[code] = (positions, self.steps[positions], self.values[positions])
        return self._tags[code]
