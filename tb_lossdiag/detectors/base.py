"""The small base class every detector shares, and the observations detectors receive."""

import dataclasses
from typing import Optional, Sequence

from tb_lossdiag.events import Event
from tb_lossdiag.graph import LossGraph


@dataclasses.dataclass(frozen=True)
class LossPoint:
    """One logged value of a loss curve."""

    tag: str
    step: int
    value: float
    is_validation: bool = False
    graph: Optional[LossGraph] = None  # None when the user logged a float


class Detector:
    """Numbers in, events out: subclasses override `on_loss`, `on_step` and/or `on_data`; they never write."""

    id: str = ""  # the stable kind id of the events it emits (some emit a few kinds)
    category: str = "curve"
    # True: on_loss sees values in batches, up to diagnoser.DEFER_VALUES values or DEFER_SECONDS
    # late; a value that is not finite, negative, or has a new loss graph goes through at once.
    # A check that must act at once on other values (stop_on_error) leaves it False.
    deferrable: bool = False

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        """Every tunable number of the detector; subclasses define their own."""

    def __init__(self, **overrides):
        names = {f.name for f in dataclasses.fields(self.Thresholds)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(
                f"{self.id}: unknown threshold(s) {unknown}; tunable: {sorted(names) or 'none'}"
            )
        self.thresholds = dataclasses.replace(self.Thresholds(), **overrides)

    def on_loss(self, point: LossPoint) -> Sequence[Event]:
        """Events for one logged loss value."""
        return ()

    def on_step(self, stats) -> Sequence[Event]:
        """Events for the model statistics of one sampled step (see `tb_lossdiag.stats.StepStats`)."""
        return ()

    def on_data(self, observation) -> Sequence[Event]:
        """Events for one observation of a data check (see `tb_lossdiag.detectors._data`)."""
        return ()

    def event(self, step, severity, tag, message, hint, kind=None, **evidence) -> Event:
        """An event of this detector's kind and category."""
        return Event(
            step=int(step),
            kind=kind or self.id,
            severity=severity,
            tag=tag,
            message=message,
            hint=hint,
            evidence={k: float(v) for k, v in evidence.items()},
            category=self.category,
        )


class Onsets:
    """Reports a persistent condition once at its onset, then a few reminders at doubling gaps."""

    def __init__(self, reminders: int = 2, first_gap: int = 100, max_onsets: int = 3):
        self.reminders = reminders
        self.first_gap = first_gap
        self.max_onsets = max_onsets
        self._state: dict = {}

    def update(self, key, active: bool, step: int) -> Optional[str]:
        """'onset', 'reminder' or None for condition `key` being `active` at `step`."""
        state = self._state.get(key)
        if not active:
            if state is not None:
                state["active"] = False
            return None
        if state is None or not state["active"]:
            onsets = 0 if state is None else state["onsets"]
            if onsets >= self.max_onsets:
                return None
            self._state[key] = {
                "active": True, "onsets": onsets + 1, "next": step + self.first_gap,
                "gap": self.first_gap, "reminded": 0,
            }
            return "onset"
        if state["reminded"] < self.reminders and step >= state["next"]:
            state["reminded"] += 1
            state["gap"] *= 2
            state["next"] = step + state["gap"]
            return "reminder"
        return None
