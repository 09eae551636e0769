"""The plugin's routes over log directories written by DiagWriter: every event returned, none lost."""

import contextlib
import os

import pytest
from tensorboard import context as tb_context
from torch.utils.tensorboard import SummaryWriter

from tb_lossdiag import DiagWriter, metadata, summary
from tb_lossdiag.plugin import plugin as lossdiag_plugin

from .conftest import make_client, make_provider, route
from .harness import NAN_COLUMN, NAN_STEP, event, shard, write_events, write_gallery, write_sharded_job


def get_json(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    return response.get_json()


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """The four-run gallery (healthy, NaN, nll-on-softmax, plain SummaryWriter) behind a client."""
    logdir = str(tmp_path_factory.mktemp("gallery") / "runs")
    write_gallery(logdir)
    return make_client(logdir)[0]


def test_runs_overview_tells_health_first_error_and_curves(gallery):
    """Each run has its counts by severity, its first error, its loss and diag/ tags."""
    runs = {r["run"]: r for r in get_json(gallery, route("runs"))["runs"]}
    assert set(runs) == {"healthy", "nan_in_data", "nll_on_softmax", "plain_summarywriter"}
    nan = runs["nan_in_data"]
    assert nan["diagnosed"] is True
    assert (nan["first_error"]["step"], nan["first_error"]["kind"]) == (NAN_STEP, "nonfinite_input")
    assert nan["counts"]["error"] >= 3
    assert nan["loss_tags"] == ["loss/train", "loss/val"]
    assert {"diag/grad_norm", "diag/act_std_min", "diag/input_rms"} <= set(nan["stat_tags"])  # watched
    # the writer only: its swap-only probes' gradient statistics, no activation or input checks
    assert runs["nll_on_softmax"]["stat_tags"] == ["diag/grad_nonfinite", "diag/grad_norm"]
    assert runs["healthy"]["diagnosed"] is True and sum(runs["healthy"]["counts"].values()) == 0
    assert runs["healthy"]["first_error"] is None
    assert runs["plain_summarywriter"]["diagnosed"] is False
    assert runs["nll_on_softmax"]["first_error"]["step"] == 0


def test_runs_route_lists_the_installed_detectors(gallery):
    """The empty state can say what was checked."""
    body = get_json(gallery, route("runs"))
    assert "nonfinite_loss" in body["detectors"]


def test_events_route_returns_every_event_with_its_hint_and_evidence(gallery):
    """The NaN run's events, in step order, as Event.to_dict() writes them."""
    body = get_json(gallery, route("events?run=nan_in_data"))
    loss = next(e for e in body["events"] if e["kind"] == "nonfinite_loss")
    assert (loss["step"], loss["tag"]) == (NAN_STEP, "loss/train")
    assert "NaN" in loss["hint"] or "nan" in loss["hint"].lower()
    assert loss["evidence"]["value"] == "nan"  # JSON has no NaN
    steps = [e["step"] for e in body["events"]]
    assert steps == sorted(steps)
    assert body["notices"] == []


def test_events_route_diagnoses_the_nan_in_the_data_as_the_root_cause(gallery):
    """One diagnosis: the input column at the NaN step is the root; the loss NaNs are its consequences,
    pointed to by their index in the event list."""
    body = get_json(gallery, route("events?run=nan_in_data"))
    (diagnosis,) = body["diagnosis"]
    root = diagnosis["root"]
    assert (root["kind"], root["step"], root["evidence"]["column"]) == ("nonfinite_input", NAN_STEP, NAN_COLUMN)
    assert body["events"][diagnosis["root_index"]] == root
    assert [body["events"][i] for i in diagnosis["consequence_indices"]] == diagnosis["consequences"]
    consequences = {(e["kind"], e["tag"]) for e in diagnosis["consequences"] if e["kind"] != "nonfinite_origin"}
    assert consequences == {("nonfinite_loss", "loss/train"), ("nonfinite_loss", "loss/val")}
    # the search for the NaN's birthplace found the same batch: part of this diagnosis, never a second one
    assert [e["step"] for e in diagnosis["consequences"] if e["kind"] == "nonfinite_origin"] == [NAN_STEP]
    assert diagnosis["confidence"] == "certain" and diagnosis["fix"] == root["hint"]
    assert f"column {NAN_COLUMN}" in diagnosis["summary"]
    assert get_json(gallery, route("events?run=healthy"))["diagnosis"] == []


def test_a_condition_that_ended_is_paired_with_its_end_and_roots_no_diagnosis(logdir, client_for):
    """A plateau (steps 5-20) that ended at step 20: "ended" pairs the warning with the info event."""
    ended = event(20, "loss_plateau", "info", message="loss_plateau ended at step 20 (steps 5-20)", ended=1.0, start_step=5.0, end_step=20.0)
    write_events(logdir, "run", [[event(5, "loss_plateau")], [ended], [event(30, "loss_plateau")]])
    client, _ = client_for(logdir)
    body = get_json(client, route("events?run=run"))
    assert [e["step"] for e in body["events"]] == [5, 20, 30]
    assert body["ended"] == [[0, 1]]  # the plateau at 30 came back: it stands
    assert [d["root"]["step"] for d in body["diagnosis"]] == [30]


def test_a_failing_diagnosis_leaves_the_events_served_with_a_notice(logdir, client_for, monkeypatch):
    """A bug in the diagnosis must not hide the events: no diagnosis, a notice, the events."""
    def broken(events):
        raise ValueError("a bug")

    monkeypatch.setattr(lossdiag_plugin, "diagnose", broken)
    write_events(logdir, "run", [[event(3, severity="error")]])
    client, _ = client_for(logdir)
    body = get_json(client, route("events?run=run"))
    assert [e["step"] for e in body["events"]] == [3]
    assert body["diagnosis"] == [] and body["notices"] == [lossdiag_plugin.DIAGNOSIS_FAILED]


def test_events_route_needs_a_run(gallery):
    """A request without ?run= is a 400 with a reason, not a crash."""
    response = gallery.get(route("events"))
    assert response.status_code == 400
    assert "run" in response.get_json()["error"]


def test_unknown_run_has_no_events(gallery):
    """A run TensorBoard has not read (yet) answers an empty list."""
    assert get_json(gallery, route("events?run=nope"))["events"] == []


def test_curves_route_returns_loss_curves_with_nan_spelled_out(gallery):
    """By default every loss tag; every value from the NaN step on is "nan" (the tab shades that stretch)."""
    body = get_json(gallery, route("curves?run=nan_in_data"))
    curves = {c["tag"]: c for c in body["curves"]}
    assert set(curves) == {"loss/train", "loss/val"}
    train = curves["loss/train"]
    assert train["steps"] == list(range(160))
    assert all(isinstance(v, float) for v in train["values"][:NAN_STEP])
    assert train["values"][NAN_STEP:] == ["nan"] * (160 - NAN_STEP)


def test_infinite_values_are_spelled_out_with_their_sign(logdir, client_for):
    """+Inf and -Inf are told apart from NaN; JSON has none of them."""
    with contextlib.closing(SummaryWriter(os.path.join(logdir, "r"))) as w:
        for s, v in enumerate([1.0, float("inf"), float("-inf"), float("nan"), 2.0]):
            w.add_scalar("loss", v, s)
    client, _ = client_for(logdir)
    assert get_json(client, route("curves?run=r"))["curves"][0]["values"] == [1.0, "inf", "-inf", "nan", 2.0]


def test_the_loss_curves_are_the_tags_the_writer_diagnosed(logdir, client_for):
    """Records naming "objective" as a loss tag: the tab draws it (its name holds no "loss"), and only it."""
    with contextlib.closing(SummaryWriter(os.path.join(logdir, "r"))) as w:
        w._get_file_writer().add_summary(summary.events_summary(metadata.TAG_PREFIX + "s", [], loss_tags=["objective"]), 0)
        for s in range(5):
            w.add_scalar("objective", 1.0 / (s + 1), s)
            w.add_scalar("aux_loss_weight", 0.5, s)  # "loss" in its name, not a loss the writer diagnosed
    client, _ = client_for(logdir)
    assert get_json(client, route("runs"))["runs"][0]["loss_tags"] == ["objective"]
    assert [c["tag"] for c in get_json(client, route("curves?run=r"))["curves"]] == ["objective"]


def test_a_diagwriter_with_its_own_loss_tags_shows_their_curves(logdir, client_for):
    """DiagWriter(..., loss_tags="objective"): the run lists and draws "objective"."""
    with DiagWriter(os.path.join(logdir, "r"), loss_tags="objective") as w:
        for s in range(5):
            w.add_scalar("objective", 1.0 / (s + 1), s)
    client, _ = client_for(logdir)
    assert get_json(client, route("runs"))["runs"][0]["loss_tags"] == ["objective"]
    assert [c["tag"] for c in get_json(client, route("curves?run=r"))["curves"]] == ["objective"]


def test_curves_route_returns_diag_statistics_on_demand(gallery):
    """?tag=diag/grad_norm returns that statistic only."""
    body = get_json(gallery, route("curves?run=nll_on_softmax&tag=diag/grad_norm"))
    assert [c["tag"] for c in body["curves"]] == ["diag/grad_norm"]
    steps = body["curves"][0]["steps"]
    assert steps[0] == 0 and len(steps) >= 5 and steps == sorted(set(steps))


def test_curves_are_downsampled_for_drawing(logdir, client_for):
    """A long curve comes back with at most CURVE_POINTS points, the last step kept."""
    with contextlib.closing(SummaryWriter(os.path.join(logdir, "long"))) as w:
        for s in range(5000):
            w.add_scalar("loss", 1.0 / (s + 1), s)
    client, _ = client_for(logdir)
    # The Python loader keeps 1,000 scalars per tag by default; the route asks for at most 2,000.
    steps = get_json(client, route("curves?run=long"))["curves"][0]["steps"]
    assert len(steps) <= lossdiag_plugin.CURVE_POINTS
    assert steps[-1] == 4999


def test_several_events_at_one_step_are_all_returned(logdir, client_for):
    """Three events written at step 5 in one batch, and one more at step 5 in another batch."""
    write_events(logdir, "run", [[event(5, "a"), event(5, "b"), event(5, "c")], [event(5, "d")]])
    client, _ = client_for(logdir)
    kinds = [e["kind"] for e in get_json(client, route("events?run=run"))["events"]]
    assert sorted(kinds) == ["a", "b", "c", "d"]


def test_a_run_restarted_from_an_earlier_step_keeps_both_sessions_events(logdir, client_for):
    """Steps 0..99 then, restarted from a checkpoint into the same directory, 50..109: all kept."""
    write_events(logdir, "run", [[event(s, "first")] for s in range(100)])
    write_events(logdir, "run", [[event(s, "second")] for s in range(50, 110)])
    client, _ = client_for(logdir)
    events = get_json(client, route("events?run=run"))["events"]
    assert sum(e["kind"] == "first" for e in events) == 100
    assert sum(e["kind"] == "second" for e in events) == 60
    runs = get_json(client, route("runs"))["runs"]
    assert runs[0]["counts"]["warning"] == 160


def test_ten_thousand_events_are_all_returned(logdir, client_for):
    """10,000 events (one record each) come back, none lost, in step order."""
    write_events(logdir, "big", [[event(s, severity=("error", "warning", "info")[s % 3])] for s in range(10_000)])
    client, _ = client_for(logdir)
    events = get_json(client, route("events?run=big"))["events"]
    assert len(events) == 10_000
    assert [e["step"] for e in events] == list(range(10_000))
    counts = get_json(client, route("runs"))["runs"][0]["counts"]
    assert counts == {"error": 3334, "warning": 3333, "info": 3333}


def test_a_newer_schema_is_read_with_a_notice(logdir, client_for, monkeypatch):
    """Records of a newer writer are shown, with a notice to upgrade."""
    write_events(logdir, "run", [[event(1)]])
    monkeypatch.setattr(lossdiag_plugin.metadata, "SCHEMA_VERSION", 0)  # the reader is now older
    client, _ = client_for(logdir)
    body = get_json(client, route("events?run=run"))
    assert len(body["events"]) == 1
    assert "newer tb_lossdiag" in body["notices"][0]


def test_a_plain_summarywriter_run_is_listed_as_not_diagnosed(logdir, client_for):
    """Its loss curves are shown; it has no diagnosis."""
    with contextlib.closing(SummaryWriter(os.path.join(logdir, "plain"))) as w:
        for s in range(10):
            w.add_scalar("Train/Loss", 1.0, s)
            w.add_scalar("lr", 0.1, s)
    client, _ = client_for(logdir)
    (run,) = get_json(client, route("runs"))["runs"]
    assert run["diagnosed"] is False and run["loss_tags"] == ["Train/Loss"]
    assert [c["tag"] for c in get_json(client, route("curves?run=plain"))["curves"]] == ["Train/Loss"]


def test_a_run_without_loss_or_diagnosis_is_not_listed(logdir, client_for):
    """A run logging only a learning rate has nothing for this tab."""
    with contextlib.closing(SummaryWriter(os.path.join(logdir, "lr_only"))) as w:
        w.add_scalar("lr", 0.1, 0)
    client, _ = client_for(logdir)
    assert get_json(client, route("runs"))["runs"] == []


@pytest.mark.parametrize("tag,expected", [("loss/train", True), ("Val_LOSS", True), ("diag/loss_scale", False), ("accuracy", False)])
def test_loss_tags_contain_loss_and_are_not_statistics(tag, expected):
    """Loss tags: containing "loss" in any case; diag/ statistics are drawn separately."""
    assert lossdiag_plugin.is_loss_tag(tag) is expected


def test_impl_functions_read_through_the_data_provider(logdir):
    """runs_impl/events_impl work on any data provider, without a server."""
    write_events(logdir, "r", [[event(3, severity="error")]])
    provider = make_provider(logdir)
    ctx = tb_context.RequestContext()
    cache = lossdiag_plugin.EventCache()
    runs = lossdiag_plugin.runs_impl(provider, ctx, "", cache)
    assert runs["runs"][0]["first_error"]["step"] == 3
    assert lossdiag_plugin.events_impl(provider, ctx, "", "r", cache)["events"][0]["step"] == 3


def test_the_cache_parses_each_record_once_and_sees_new_ones(logdir, monkeypatch):
    """A second request parses nothing again; a record written later is read, alone."""
    write_events(logdir, "r", [[event(s)] for s in range(5)])
    provider, ctx, cache = make_provider(logdir), tb_context.RequestContext(), lossdiag_plugin.EventCache()
    parsed = []
    real = lossdiag_plugin.read_record
    monkeypatch.setattr(lossdiag_plugin, "read_record", lambda *a: parsed.append(a) or real(*a))
    assert len(cache.read(provider, ctx, "")["r"].events) == 5
    assert len(cache.read(provider, ctx, "")["r"].events) == 5
    assert len(parsed) == 5
    write_events(logdir, "r", [[event(9)]])
    provider = make_provider(logdir)
    assert [e.step for e in cache.read(provider, ctx, "")["r"].events] == [0, 1, 2, 3, 4, 9]
    assert len(parsed) == 6


def test_a_sharded_job_shows_its_global_norms_on_rank_0s_card(logdir, client_for):
    """The job's first run offers diag/job/ norms combined from every rank's shard record; no card
    offers the raw shard records; a rank's card keeps its own statistics."""
    write_sharded_job(logdir, {"job": {0: shard(3.0, 2.0, 0.3, 2.0), 10: shard(float("nan"))},
                               "job/rank1": {0: shard(4.0, 0.0, 0.4, 0.0), 10: shard(1.0)}})
    client, _ = client_for(logdir)
    stat_tags = {run["run"]: run["stat_tags"] for run in get_json(client, route("runs"))["runs"]}
    assert stat_tags == {"job": ["diag/grad_norm", "diag/job/grad_norm", "diag/job/weight_norm", "diag/job/update_ratio"],
                         "job/rank1": ["diag/grad_norm"]}
    curves = get_json(client, route("curves?run=job&tag=diag/job/grad_norm&tag=diag/job/update_ratio&tag=diag/grad_norm"))
    assert curves["curves"] == [
        {"tag": "diag/job/grad_norm", "steps": [0, 10], "values": [5.0, "nan"]},
        {"tag": "diag/job/update_ratio", "steps": [0], "values": [pytest.approx(0.25)]},
        {"tag": "diag/grad_norm", "steps": [0, 10], "values": [3.0, "nan"]},
    ]
