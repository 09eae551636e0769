"""lossdiag records for the tab: parsed by `metadata.parse_record`, each event bounded to what a browser should get."""

import dataclasses
import math
from typing import Tuple

import numpy as np

from tb_lossdiag import metadata
from tb_lossdiag.events import Event
from tb_lossdiag.metadata import NOT_UTF8, UNKNOWN_SEVERITY, UNREADABLE  # noqa: F401  (the tab's notices)

# What one event may send: a log directory can hold a 1 MB message or a million evidence entries,
# and every byte of it would reach the browser on each reload. Longer text is cut and marked.
TEXT_LIMIT = 16_384  # characters of message and hint
NAME_LIMIT = 512  # characters of kind, tag, category and each evidence name
EVIDENCE_LIMIT = 64  # evidence entries
TRUNCATED = "…(truncated)"
TOO_LONG = f"some events were larger than the tab shows: text cut at {TEXT_LIMIT:,} characters, marked {TRUNCATED}"
_TEXT_FIELDS = ("kind", "tag", "message", "hint", "category")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def _bounded(event: Event) -> Tuple[Event, bool]:
    """`event` within the limits above, with a finite wall time; and whether anything was cut."""
    evidence = {_cut(k, NAME_LIMIT): v for k, v in list(event.evidence.items())[:EVIDENCE_LIMIT]}
    bounded = dataclasses.replace(
        event,
        kind=_cut(event.kind, NAME_LIMIT),
        tag=_cut(event.tag, NAME_LIMIT),
        category=_cut(event.category, NAME_LIMIT),
        message=_cut(event.message, TEXT_LIMIT),
        hint=_cut(event.hint, TEXT_LIMIT),
        evidence=evidence,
        # JSON has no NaN: an impossible wall time only orders events of one step, 0 does that.
        wall_time=event.wall_time if math.isfinite(event.wall_time) else 0.0,
    )
    cut = any(getattr(bounded, f) != getattr(event, f) for f in (*_TEXT_FIELDS, "evidence"))
    return bounded, cut


def read_record(tensor) -> metadata.Record:
    """One record's tensor as the tab shows it: events bounded, loss tags, notices; never raises."""
    record = metadata.parse_record(np.asarray(tensor).reshape(-1))
    bounded = [_bounded(event) for event in record.events]
    notices = record.notices + ((TOO_LONG,) if any(cut for _, cut in bounded) else ())
    loss_tags = tuple(_cut(tag, NAME_LIMIT) for tag in record.loss_tags)
    return metadata.Record([event for event, _ in bounded], loss_tags, notices)
