"""Diagnose loss curves already on disk, written by any writer (SummaryWriter, Lightning, Keras, HF)."""

import dataclasses
import os
import uuid
from typing import Dict, List, Optional, Tuple

import numpy as np
from tensorboard.compat.proto import event_pb2

from tb_lossdiag import metadata, reader, summary
from tb_lossdiag.diagnoser import Curves, Diagnoser
from tb_lossdiag.events import Event
from tb_lossdiag.tags import DEFAULT_LOSS_RULE, DEFAULT_VALIDATION_RULE, Exactly, TagRule, matcher

# Scan results go into a new event file of this suffix beside the run's own files (which are never
# modified); TensorBoard reads it as part of the run, and a later scan replaces it.
SCAN_SUFFIX = ".lossdiag-scan"
SCAN_TAG_PREFIX = metadata.TAG_PREFIX + "scan-"


def scan_run(curves: Dict[str, List[Tuple[int, float, float]]],
             validation_tags: TagRule = DEFAULT_VALIDATION_RULE) -> List[Event]:
    """The curve detectors' events over a run's loss curves (`RunEvents.curves`), replayed in order
    of step, then wall time, then tag (several tags' values at one step)."""
    is_validation = matcher(validation_tags, "validation_tags")
    tags = sorted(curves)
    columns = [np.array(curves[tag], dtype=float).reshape(-1, 3) for tag in tags]  # step, value, wall time
    merged = np.concatenate(columns)
    codes = np.repeat(np.arange(len(tags)), [len(c) for c in columns])
    steps = np.array([step for tag in tags for step, _, _ in curves[tag]], dtype=np.int64)  # exact past 2**53
    order = np.lexsort((codes, merged[:, 2], steps))  # stable: one tag's values at one wall time stay in file order
    steps, values, wall_times, codes = steps[order], merged[order, 1], merged[order, 2], codes[order]
    found = Diagnoser().replay(Curves(tags, [bool(is_validation(tag)) for tag in tags], codes, steps, values))
    # An event takes the wall time of the last value logged at its step.
    last = np.searchsorted(steps, [e.step for e in found], side="right") - 1
    return [dataclasses.replace(e, wall_time=float(wall_times[i]) if i >= 0 and steps[i] == e.step else 0.0)
            for e, i in zip(found, last.tolist())]


def scan_logdir(
    logdir: str,
    loss_tags: TagRule = DEFAULT_LOSS_RULE,
    validation_tags: TagRule = DEFAULT_VALIDATION_RULE,
    write: bool = False,
    force: bool = False,
    progress: Optional[reader.Progress] = None,
) -> List[reader.RunEvents]:
    """Each run's findings; runs a DiagWriter diagnosed while training are left as they are unless `force`."""
    # The curves scanned are the loss tags a DiagWriter recorded, else those `loss_tags` accepts.
    from tb_lossdiag.diagnosis import diagnose

    results = []
    # One reading gives each run's records and the curves `loss_tags` accepts; a run whose DiagWriter
    # named other loss tags is read again for those (only when rescanned).
    for run in reader.iter_logdir(logdir, loss_tags, progress=progress):  # the progress line moves run by run
        result = reader.RunEvents(run=run.run, notices=list(run.notices), loss_tags=run.loss_tags)
        results.append(result)
        if any(not tag.startswith(SCAN_TAG_PREFIX) for tag in run.record_tags) and not force:
            result.events, result.diagnosis = run.events, run.diagnosis
            result.notices.append("diagnosed while training by DiagWriter: shown as written (--force rescans)")
            continue
        curves = run.curves
        if run.loss_tags:
            curves = reader.read_run(os.path.join(logdir, run.run), run.run, Exactly(frozenset(run.loss_tags))).curves
        if not curves:
            result.notices.append("no loss scalars to scan")
            continue
        result.events = scan_run(curves, validation_tags)
        result.diagnosis = diagnose(result.events)
        if write:
            _write_beside(os.path.join(logdir, run.run), result.events)
    return results


def _write_beside(run_dir: str, events: List[Event]) -> None:
    """Replace an earlier scan's file in `run_dir` with one holding `events` (possibly none)."""
    # Imported here: tensorboard.summary takes ~0.5 s to import, and only --write needs it.
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    for name in os.listdir(run_dir):
        if name.endswith(SCAN_SUFFIX) and "tfevents" in name:
            os.remove(os.path.join(run_dir, name))
    writer = EventFileWriter(run_dir, filename_suffix=SCAN_SUFFIX)
    # One record even when empty: the run then shows as diagnosed, with no findings.
    records = summary.events_summary(SCAN_TAG_PREFIX + uuid.uuid4().hex[:12], events)
    writer.add_event(event_pb2.Event(step=0, summary=records))
    writer.close()
