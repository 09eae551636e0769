"""Routes observations to the detectors and contains their failures (pure: it never writes)."""

import warnings
from typing import Iterable, List, Mapping, Optional, Sequence

from tb_lossdiag.detectors import Detector, default_detectors
from tb_lossdiag.events import Event

FAILURE_KIND = "diagnostic_failure"


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

    def loss(self, point) -> List[Event]:
        """New events for one logged loss value."""
        return self._dispatch("on_loss", point, point.step)

    def step(self, stats) -> List[Event]:
        """New events for one step's model statistics."""
        return self._dispatch("on_step", stats, stats.step)

    def _dispatch(self, method: str, observation, step: int) -> List[Event]:
        new: List[Event] = []
        for det in list(self.detectors):
            try:
                new.extend(getattr(det, method)(observation))
            except Exception as error:  # a detector bug must never reach the training loop
                self.detectors.remove(det)
                new.append(failure_event(f"detector {det.id}", error, step))
        return new


def failure_event(where: str, error: BaseException, step: int) -> Event:
    """A diagnostic_failure event, also issued as a Python warning."""
    event = Event(
        step=step,
        kind=FAILURE_KIND,
        severity="warning",
        tag=where,
        message=f"tb_lossdiag's {where} failed and was switched off: "
        f"{type(error).__name__}: {error}",
        hint="Training is unaffected. Please report this with the message above.",
        category="model",
    )
    warnings.warn(event.message, RuntimeWarning, stacklevel=4)
    return event
