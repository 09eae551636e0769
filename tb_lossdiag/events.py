"""The diagnostic event: one finding, with its evidence and its fix."""

import dataclasses
import math
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from tb_lossdiag.proto import event_pb2

SEVERITIES = ("info", "warning", "error")

_SEVERITY_TO_PROTO = {
    "info": event_pb2.INFO,
    "warning": event_pb2.WARNING,
    "error": event_pb2.ERROR,
}
_PROTO_TO_SEVERITY = {v: k for k, v in _SEVERITY_TO_PROTO.items()}


@dataclasses.dataclass(frozen=True)
class Event:
    """One diagnosis: at `step`, `kind` was found on `tag`; `message` says why, `hint` the fix."""

    step: int
    kind: str
    severity: str
    tag: str
    message: str
    hint: str
    evidence: Mapping[str, float] = dataclasses.field(default_factory=dict)
    category: str = "curve"  # "curve", "model" or "data"
    wall_time: float = 0.0
    rank: int = 0

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_dict(self) -> dict:
        """The JSON form shared by the CLI and the plugin."""
        return {
            "step": self.step,
            "kind": self.kind,
            "severity": self.severity,
            "tag": self.tag,
            "message": self.message,
            "hint": self.hint,
            # JSON has no NaN or Infinity: non-finite evidence is written as "nan", "inf", "-inf".
            "evidence": {k: v if math.isfinite(v) else str(v) for k, v in self.evidence.items()},
            "category": self.category,
            "wall_time": self.wall_time,
            "rank": self.rank,
        }

    def to_proto(self) -> event_pb2.Event:
        """The schema form written into event files."""
        return event_pb2.Event(
            step=self.step,
            kind=self.kind,
            severity=_SEVERITY_TO_PROTO[self.severity],
            tag=self.tag,
            message=self.message,
            hint=self.hint,
            evidence={k: float(v) for k, v in self.evidence.items()},
            category=self.category,
            wall_time=self.wall_time,
            rank=self.rank,
        )

    @classmethod
    def from_proto(cls, proto: event_pb2.Event) -> "Event":
        """Parse a schema event; an unknown severity (a newer writer) reads as a warning."""
        return cls(
            step=proto.step,
            kind=proto.kind,
            severity=_PROTO_TO_SEVERITY.get(proto.severity, "warning"),
            tag=proto.tag,
            message=proto.message,
            hint=proto.hint,
            evidence=dict(proto.evidence),
            category=proto.category or "curve",
            wall_time=proto.wall_time,
            rank=proto.rank,
        )


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for error: for comparisons such as --fail-on."""
    return SEVERITIES.index(severity)


def first_error(events) -> Optional[Event]:
    """The earliest error-severity event, or None."""
    errors = [e for e in events if e.severity == "error"]
    return min(errors, key=lambda e: e.step) if errors else None


def ended(events: Iterable[Event]) -> Dict[int, Event]:
    """id of each warning or error whose condition ended -> the info event that says so: one of its
    kind and tag with evidence ended=1 whose span start_step..end_step covers the warning's step."""
    events = list(events)
    spans: Dict[Tuple[str, str], List[Event]] = {}
    for e in events:
        if e.severity == "info" and e.evidence.get("ended") == 1.0:
            spans.setdefault((e.kind, e.tag), []).append(e)
    found = {}
    for e in events:
        if e.severity == "info":
            continue
        ender = next((x for x in spans.get((e.kind, e.tag), ())
                      if x.evidence.get("start_step", x.step) <= e.step <= x.evidence.get("end_step", x.step)), None)
        if ender is not None:
            found[id(e)] = ender
    return found
