"""Diagnose loss curves already on disk, written by any writer (SummaryWriter, Lightning, Keras, HF)."""

import dataclasses
import os
import uuid
from typing import Dict, List, Optional, Tuple

from tensorboard.compat.proto import event_pb2

from tb_lossdiag import metadata, reader, summary
from tb_lossdiag.detectors import LossPoint
from tb_lossdiag.diagnoser import Diagnoser
from tb_lossdiag.events import Event
from tb_lossdiag.tags import DEFAULT_LOSS_RULE, DEFAULT_VALIDATION_RULE, Exactly, TagRule, matcher

# Scan results go into a new event file of this suffix beside the run's own files (which are never
# modified); TensorBoard reads it as part of the run, and a later scan replaces it.
SCAN_SUFFIX = ".lossdiag-scan"
SCAN_TAG_PREFIX = metadata.TAG_PREFIX + "scan-"


def scan_run(curves: Dict[str, List[Tuple[int, float, float]]],
             validation_tags: TagRule = DEFAULT_VALIDATION_RULE) -> List[Event]:
    """The curve detectors' events over a run's loss curves (`RunEvents.curves`), replayed in step order."""
    is_validation = matcher(validation_tags, "validation_tags")
    validation = {tag: bool(is_validation(tag)) for tag in curves}
    points = sorted(
        (step, wall_time, tag, value)
        for tag, curve in curves.items()
        for step, value, wall_time in curve
    )
    wall_times = {step: wall_time for step, wall_time, _, _ in points}  # the last of each step, as logged
    found = Diagnoser().replay([LossPoint(tag, step, value, validation[tag]) for step, _, tag, value in points])
    return [dataclasses.replace(e, wall_time=wall_times.get(e.step, 0.0)) for e in found]


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
    for run in reader.iter_logdir(logdir, progress=progress):  # the progress line moves run by run
        result = reader.RunEvents(run=run.run, notices=list(run.notices), loss_tags=run.loss_tags)
        results.append(result)
        if any(not tag.startswith(SCAN_TAG_PREFIX) for tag in run.record_tags) and not force:
            result.events, result.diagnosis = run.events, run.diagnosis
            result.notices.append("diagnosed while training by DiagWriter: shown as written (--force rescans)")
            continue
        rule = Exactly(frozenset(run.loss_tags)) if run.loss_tags else loss_tags
        curves = reader.read_run(os.path.join(logdir, run.run), run.run, rule).curves
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
