"""Routes observations to the detectors and contains their failures (pure: it never writes)."""

import math
import time
import warnings
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from tb_lossdiag.detectors import Detector, default_detectors
from tb_lossdiag.events import Event

FAILURE_KIND = "diagnostic_failure"
# Deferrable detectors receive loss values together, at most this many, and none held longer than
# DEFER_SECONDS: in a batch their statistics stay in the CPU's caches, several times cheaper per
# value inside a training step (whose own work evicts them) than one call per value. Their events
# keep the steps of the values; only finding them waits (TensorBoard sees records seconds later anyway).
DEFER_VALUES = 32
DEFER_SECONDS = 1.0
REPLAY_VALUES = 512  # values each detector takes in turn in replay()


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

    def replay(self, points: Sequence) -> List[Event]:
        """Events for many loss values at once (an offline scan of whole curves), as loss() of each
        then flush() would find them, in the order of the values, then of the detectors."""
        # In chunks: the detectors of one tag then meet the same blocks of values while
        # curve.block_stats still holds their statistics.
        return [event for start in range(0, len(points), REPLAY_VALUES)
                for event in self._replay(points[start: start + REPLAY_VALUES], "loss")]

    def _replay(self, points: Sequence, channel: str) -> List[Event]:
        # Each detector takes all the values in turn: its state stays in the CPU's caches, and the
        # per-call lookups are made once.
        found = []  # (value index, detector index, events)
        for order, det in enumerate(list(self._listeners[channel])):
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
        found.sort(key=lambda item: item[:2])
        return [event for _, _, events in found for event in events]

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
