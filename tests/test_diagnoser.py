"""Diagnoser: which detectors see a loss value when, and what a failing detector leaves behind."""

import math

import pytest

from tb_lossdiag import diagnoser as D
from tb_lossdiag.detectors import Detector, LossPoint
from tb_lossdiag.graph import LossGraph


class Seen(Detector):
    """Records the steps it is handed and finds an event at every one of them."""

    id = "seen"

    def __init__(self, deferrable):
        super().__init__()
        self.deferrable = deferrable
        self.steps = []

    def on_loss(self, point):
        self.steps.append(point.step)
        return [self.event(point.step, "info", point.tag, "m", "h")]


def _points(values, graph=None):
    return [LossPoint("loss", step, value, graph=graph) for step, value in enumerate(values)]


def test_deferrable_detectors_see_values_in_batches_that_keep_their_steps():
    batched, at_once = Seen(deferrable=True), Seen(deferrable=False)
    diagnoser = D.Diagnoser([batched, at_once])
    found = [[e.step for e in diagnoser.loss(p) if e.kind == "seen"] for p in _points([1.0] * D.DEFER_VALUES)]
    assert at_once.steps == list(range(D.DEFER_VALUES))
    assert batched.steps == list(range(D.DEFER_VALUES))  # all of them, once the batch was full
    assert found[0] == [0] and found[-1] == [D.DEFER_VALUES - 1] + list(range(D.DEFER_VALUES))


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.5])
def test_a_value_that_may_be_an_error_goes_through_at_once(value):
    """Not finite or negative: the deferrable detectors see it (and the values before it) at its step."""
    batched = Seen(deferrable=True)
    diagnoser = D.Diagnoser([batched])
    for point in _points([1.0, 1.0]):
        diagnoser.loss(point)
    assert [e.step for e in diagnoser.loss(LossPoint("loss", 2, value))] == [0, 1, 2]


def test_a_new_loss_graph_goes_through_at_once_and_the_same_one_waits():
    batched = Seen(deferrable=True)
    diagnoser = D.Diagnoser([batched])
    graph = LossGraph()
    assert [e.step for e in diagnoser.loss(LossPoint("loss", 0, 1.0, graph=graph))] == [0]
    assert diagnoser.loss(LossPoint("loss", 1, 1.0, graph=graph)) == []
    assert [e.step for e in diagnoser.loss(LossPoint("loss", 2, 1.0, graph=LossGraph()))] == [1, 2]


def test_no_value_waits_longer_than_defer_seconds(monkeypatch):
    """A slow training loop (a step every few seconds) is not diagnosed 32 steps late."""
    clock = [100.0]
    monkeypatch.setattr(D.time, "monotonic", lambda: clock[0])
    batched = Seen(deferrable=True)
    diagnoser = D.Diagnoser([batched])
    assert diagnoser.loss(LossPoint("loss", 0, 1.0)) == []
    clock[0] += D.DEFER_SECONDS / 2
    assert diagnoser.loss(LossPoint("loss", 1, 1.0)) == []
    clock[0] += D.DEFER_SECONDS / 2
    assert [e.step for e in diagnoser.loss(LossPoint("loss", 2, 1.0))] == [0, 1, 2]


def test_a_failing_detector_is_switched_off_with_one_failure_event():
    class Broken(Detector):
        id = "broken"
        deferrable = True

        def on_loss(self, point):
            raise ZeroDivisionError("bug")

    diagnoser = D.Diagnoser([Broken()])
    with pytest.warns(RuntimeWarning, match="detector broken failed"):
        events = diagnoser.loss(LossPoint("loss", 0, math.nan))
    assert [(e.kind, e.step) for e in events] == [(D.FAILURE_KIND, 0)]
    assert diagnoser.loss(LossPoint("loss", 1, math.nan)) == [] and diagnoser.detectors == []


def test_the_detector_after_a_failing_one_still_sees_every_value():
    """Switching a failing detector off must not make the next one miss the value it failed on."""
    class Broken(Detector):
        id = "broken"

        def on_loss(self, point):
            raise ZeroDivisionError("bug")

    after = Seen(deferrable=False)
    diagnoser = D.Diagnoser([Broken(), after])
    with pytest.warns(RuntimeWarning, match="switched off"):
        for point in _points([1.0, 2.0, 3.0]):
            diagnoser.loss(point)
    assert after.steps == [0, 1, 2]


def test_replay_finds_what_loss_and_flush_find_value_by_value():
    """An offline replay (scan) gives the events of loss() per value then flush(), in value then
    detector order; a detector failing mid-curve is switched off there and the others go on."""
    class BrokenAt(Detector):
        id = "broken_at"
        deferrable = True

        def on_loss(self, point):
            if point.step == 700:
                raise ZeroDivisionError("bug")
            return [self.event(point.step, "info", point.tag, "b", "h")] if point.step % 100 == 0 else []

    def events(replay):
        diagnoser = D.Diagnoser([Seen(deferrable=True), BrokenAt(), Seen(deferrable=False)])
        points = _points([1.0] * (2 * D.REPLAY_VALUES + 5))
        with pytest.warns(RuntimeWarning, match="detector broken_at failed"):
            if replay:
                found = diagnoser.replay(points)
            else:
                found = [e for p in points for e in diagnoser.loss(p)] + diagnoser.flush()
        return sorted((e.step, e.kind) for e in found)

    replayed = events(replay=True)
    assert replayed == events(replay=False)
    assert (700, D.FAILURE_KIND) in replayed and (800, "broken_at") not in replayed
    assert replayed.count((1000, "seen")) == 2  # both Seen detectors went on past the failure


def test_a_failing_data_detector_is_switched_off_and_the_data_check_goes_on(tmp_path):
    """A data detector that raises is one failure event; the other data detectors still report
    the NaN column of the same check."""
    import numpy as np

    from tb_lossdiag import DiagWriter, default_detectors

    class Broken(Detector):
        id = "broken_data"

        def on_data(self, observation):
            raise ZeroDivisionError("bug")

    writer = DiagWriter(str(tmp_path), detectors=[Broken(), *default_detectors()])
    data = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, 5.0]], dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="detector broken_data failed"):
        events = writer.check_data(data)
    writer.close()
    kinds = [e.kind for e in events]
    assert kinds.count(D.FAILURE_KIND) == 1 and "nonfinite_values" in kinds


def test_a_detector_failing_on_a_replayed_curve_is_switched_off_and_the_others_go_on():
    """A detector taking replayed values in bulk (on_losses) that raises gets one failure event at the
    start of the values it failed on, finds nothing after, and the other detectors see every value."""
    class BulkBrokenAt(Detector):
        id = "bulk_broken_at"
        deferrable = True

        def on_loss(self, point):
            return [self.event(point.step, "info", point.tag, "b", "h")] if point.step % 1000 == 0 else []

        def on_losses(self, tag, steps, values, validation):
            if tag == "loss/b" and steps[-1] >= 5000:
                raise ZeroDivisionError("bug")
            return [(i, self.on_loss(LossPoint(tag, int(s), 0.0))) for i, s in enumerate(steps.tolist()) if s % 1000 == 0]

    after = Seen(deferrable=True)
    points = [LossPoint(tag, step, 1.0) for step in range(6000) for tag in ("loss/a", "loss/b")]
    with pytest.warns(RuntimeWarning, match="detector bulk_broken_at failed"):
        found = D.Diagnoser([BulkBrokenAt(), after]).replay(points)
    failures = [e for e in found if e.kind == D.FAILURE_KIND]
    steps_per_chunk = D.REPLAY_VALUES // 2  # two tags a step
    first_of_run = 5000 // steps_per_chunk * steps_per_chunk  # loss/b's first step in the chunk it fails in
    assert [e.step for e in failures] == [first_of_run]
    assert max(e.step for e in found if e.kind == "bulk_broken_at") < first_of_run
    assert len(after.steps) == len(points)
