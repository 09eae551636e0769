"""DiagWriter: SummaryWriter's behaviour unchanged, plus diagnostics written and reachable."""

import logging
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader, LegacyEventFileLoader
from torch.utils.tensorboard import SummaryWriter

from tb_lossdiag import DiagnosticError, DiagWriter, Detector, default_detectors, read_logdir
from tb_lossdiag import metadata

NAN = float("nan")


def _script(writer):
    """One of everything users call on a SummaryWriter, with fixed wall times."""
    torch.manual_seed(0)
    for step in range(5):
        writer.add_scalar("loss/train", torch.tensor(1.0 / (step + 1)), step, walltime=100.0 + step)
        writer.add_scalar("accuracy", 0.5 + step / 10, step, walltime=100.0 + step)
        writer.add_scalar("loss/double", 0.25, step, walltime=100.0, new_style=True, double_precision=True)
    writer.add_scalars("loss", {"train": 0.5, "val": torch.tensor(0.6)}, 3, walltime=110.0)
    writer.add_histogram("weights", torch.arange(100.0), 1, walltime=120.0)
    writer.add_image("image", torch.zeros(3, 4, 4), 0, walltime=130.0)
    writer.add_text("note", "hello", 0, walltime=140.0)
    writer.add_hparams({"lr": 0.1}, {"hparam/loss": 0.2}, run_name="hp", global_step=0)
    writer.add_embedding(torch.eye(4), metadata=["a", "b", "c", "d"], global_step=0)
    writer.add_graph(torch.nn.Linear(2, 1), torch.zeros(1, 2))
    writer.add_pr_curve("pr", np.array([0, 1, 1]), np.array([0.1, 0.8, 0.6]), 0, walltime=150.0)
    writer.add_scalar("loss/train", NAN, 5, walltime=160.0)


def _read_tree(root, drop_plugin):
    """Every event and every non-event file below root, wall times removed."""
    tree = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            key = os.path.relpath(directory, root)
            if "tfevents" not in name:
                tree[(key, name)] = pathlib.Path(path).read_bytes()
                continue
            events = []
            for event in EventFileLoader(path).Load():
                event.wall_time = 0
                values = [v for v in event.summary.value if v.metadata.plugin_data.plugin_name != drop_plugin]
                if event.HasField("summary") and not values:
                    continue
                del event.summary.value[:]
                event.summary.value.extend(values)
                events.append(event.SerializeToString(deterministic=True))
            tree.setdefault((key, "events"), []).extend(events)
    return tree


def test_writes_exactly_what_summarywriter_writes(tmp_path):
    """Swapping SummaryWriter for DiagWriter changes nothing it wrote; it only adds lossdiag records."""
    with SummaryWriter(str(tmp_path / "plain")) as plain:
        _script(plain)
    with DiagWriter(str(tmp_path / "diag")) as diag:
        _script(diag)
    plain_tree = _read_tree(tmp_path / "plain", drop_plugin=None)
    diag_tree = _read_tree(tmp_path / "diag", drop_plugin=metadata.PLUGIN_NAME)
    assert plain_tree.keys() == diag_tree.keys()
    for key in plain_tree:
        assert plain_tree[key] == diag_tree[key], key
    assert [e.kind for e in diag.events] == ["nonfinite_loss"]


def test_close_leaves_file_writer_none_and_accepts_pathlib(tmp_path):
    """close() behaves as SummaryWriter's: file_writer is None afterwards; a second close is harmless."""
    writer = DiagWriter(tmp_path / "run")
    writer.add_scalar("loss", 1.0, 0)
    writer.close()
    writer.close()
    assert writer.file_writer is None
    assert any("tfevents" in f for f in os.listdir(tmp_path / "run"))


def test_nan_loss_is_an_event_readable_from_the_log(logdir):
    """A NaN loss yields one error event at its first step, read back from disk with its hint."""
    writer = DiagWriter(logdir)
    for step, value in enumerate([1.0, 0.8, NAN, NAN, NAN]):
        writer.add_scalar("loss/train", torch.tensor(value), step)
    writer.close()
    (run,) = read_logdir(logdir)
    assert [(e.step, e.kind, e.severity, e.tag) for e in run.events] == [
        (2, "nonfinite_loss", "error", "loss/train")
    ]
    assert "0.8 at step 1" in run.events[0].message
    assert "eps" in run.events[0].hint


def test_error_event_is_on_disk_before_close(logdir):
    """An error-severity event is flushed at once, so a crash right after still leaves it."""
    writer = DiagWriter(logdir, flush_secs=10_000, max_queue=10_000)
    writer.add_scalar("loss", NAN, 0)
    (run,) = read_logdir(logdir)
    assert [e.kind for e in run.events] == ["nonfinite_loss"]
    writer.close()


def test_stop_on_error_raises_once_with_the_fix(logdir):
    """stop_on_error=True halts training at the first error with a message naming the fix."""
    writer = DiagWriter(logdir, stop_on_error=True)
    writer.add_scalar("loss", 1.0, 0)
    with pytest.raises(DiagnosticError, match="(?s)nonfinite_loss.*Fix:") as raised:
        writer.add_scalar("loss", NAN, 1)
    assert raised.value.event.step == 1
    writer.add_scalar("loss", NAN, 2)  # the user chose to go on: no second raise
    writer.close()
    (run,) = read_logdir(logdir)
    assert [e.step for e in run.events] == [1]


def test_batched_detectors_still_stop_at_the_step_of_the_error(logdir):
    """The loss detectors see values in batches, yet an MSE whose [8, 1] output is broadcast
    against [8] targets (a new loss graph, a positive value) stops training at the very step it
    is logged, after healthy ones."""
    writer = DiagWriter(logdir, stop_on_error=True)
    for step in range(5):
        writer.add_scalar("loss", 1.0 / (step + 1), step)
    with pytest.warns(UserWarning, match="target size"):  # torch's own warning, easy to miss
        loss = torch.nn.functional.mse_loss(torch.randn(8, 1, requires_grad=True), torch.randn(8))
    with pytest.raises(DiagnosticError, match="target_shape_mismatch") as raised:
        writer.add_scalar("loss", loss, 5)
    assert raised.value.event.step == 5
    writer.close()


def test_events_are_logged_once_per_onset(logdir, caplog):
    """Each new event goes to the `tb_lossdiag` logger once, not once per step."""
    with caplog.at_level(logging.INFO, logger="tb_lossdiag"):
        with DiagWriter(logdir) as writer:
            for step in range(20):
                writer.add_scalar("loss", NAN, step)
    records = [r for r in caplog.records if r.name == "tb_lossdiag"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR and "nonfinite_loss" in records[0].getMessage()


def test_only_loss_tags_are_diagnosed_and_the_rule_is_configurable(logdir):
    """Default: tags containing "loss"; loss_tags= changes which tags feed the detectors."""
    with DiagWriter(logdir) as default:
        default.add_scalar("accuracy", NAN, 0)
        assert default.events == []
    with DiagWriter(logdir, loss_tags=lambda tag: tag == "objective") as custom:
        custom.add_scalar("objective", NAN, 0)
        custom.add_scalar("loss", NAN, 0)
        assert [e.tag for e in custom.events] == ["objective"]


def test_add_scalars_feeds_each_loss_tag(logdir):
    """add_scalars("loss", {"train": ..., "val": ...}) diagnoses loss/train and loss/val separately."""
    with DiagWriter(logdir) as writer:
        writer.add_scalars("loss", {"train": 1.0, "val": NAN}, 0)
    assert [(e.tag, e.kind) for e in writer.events] == [("loss/val", "nonfinite_loss")]


def test_steps_default_to_a_per_tag_counter(logdir):
    """Without global_step, events are placed at the call's index for that tag."""
    with DiagWriter(logdir) as writer:
        for value in [1.0, 1.0, NAN]:
            writer.add_scalar("loss", value)
    assert writer.events[0].step == 2


def test_non_scalar_loss_tensor_gets_a_clear_error(logdir):
    """A per-sample loss tensor under a loss tag is refused with the fix, and nothing is lost."""
    with DiagWriter(logdir) as writer:
        writer.add_scalar("loss", 1.0, 0)
        with pytest.raises(ValueError, match=r"loss\.mean\(\)"):
            writer.add_scalar("loss", torch.ones(4), 1)
    assert any("tfevents" in f for f in os.listdir(logdir))


class _Broken(Detector):
    """A detector with a bug."""

    id = "broken"

    def on_loss(self, point):
        raise ZeroDivisionError("oops")


def test_a_broken_detector_never_stops_training(logdir):
    """A failing detector is switched off and reported once; the others keep working."""
    writer = DiagWriter(logdir, detectors=[_Broken(), *default_detectors()])
    with pytest.warns(RuntimeWarning, match="detector broken failed"):
        for step, value in enumerate([1.0, 2.0, NAN]):
            writer.add_scalar("loss", value, step)
    writer.close()
    kinds = [e.kind for e in writer.events]
    assert kinds == ["diagnostic_failure", "nonfinite_loss"]


class _Negative(Detector):
    """A user's own detector: flags any loss below a floor."""

    id = "below_floor"

    def on_loss(self, point):
        if point.value < -1:
            return [self.event(point.step, "warning", point.tag, f"loss {point.value} < -1", "check the sign")]
        return []


def test_custom_detector_disable_and_tune(logdir):
    """Users add their own detector, turn a built-in off, and get clear errors for unknown names."""
    with DiagWriter(logdir, detectors=[_Negative()]) as writer:
        writer.add_scalar("loss", -2.0, 0)
        writer.add_scalar("loss", NAN, 1)
    assert [e.kind for e in writer.events] == ["below_floor"]
    with DiagWriter(logdir, disable=["nonfinite_loss"]) as quiet:
        quiet.add_scalar("loss", NAN, 0)
    assert quiet.events == []
    with pytest.raises(ValueError, match="unknown detector 'nonfinit'.*nonfinite_loss"):
        DiagWriter(logdir, disable=["nonfinit"])
    with pytest.raises(ValueError, match="tunable"):
        DiagWriter(logdir, tune={"nonfinite_loss": {"no_such_threshold": 1}})


def test_events_survive_restarts_and_many_per_step(logdir):
    """Several events at one step and a run restarted from an earlier step all read back."""
    for _ in range(2):  # the second writer restarts the run from step 0 into the same directory
        with DiagWriter(logdir) as writer:
            for step in range(50):
                writer.add_scalar("loss/a", NAN if step in (10, 30) else 1.0, step)
                writer.add_scalar("loss/b", NAN if step in (10, 30) else 1.0, step)
    (run,) = read_logdir(logdir)
    # (a loss this constant is also "nothing is learning": only the NaN events are counted here)
    assert sorted((e.step, e.tag) for e in run.events if e.kind == "nonfinite_loss") == sorted(
        [(s, t) for s in (10, 10, 30, 30) for t in ("loss/a", "loss/b")]
    )


def test_ten_thousand_events_are_all_kept(logdir):
    """10,000 events of distinct conditions are written and read back without loss."""
    with DiagWriter(logdir) as writer:
        for i in range(10_000):
            writer.add_scalar(f"loss/{i}", NAN, i % 7)
    (run,) = read_logdir(logdir)
    assert len(run.events) == 10_000


def test_error_survives_sigkill_right_after(logdir):
    """A training process killed (SIGKILL) right after a NaN loss still leaves the event on disk."""
    import signal
    import subprocess
    import sys

    child = (
        "import os, signal\n"
        "from tb_lossdiag import DiagWriter\n"
        f"w = DiagWriter({logdir!r}, flush_secs=10_000, max_queue=10_000)\n"
        "w.add_scalar('loss', 1.0, 0)\n"
        "w.add_scalar('loss', float('nan'), 1)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    (run,) = read_logdir(logdir)
    assert [(e.step, e.kind) for e in run.events] == [(1, "nonfinite_loss")]



class _Recorder(Detector):
    """Keeps every LossPoint it sees."""

    id = "recorder"

    def __init__(self):
        super().__init__()
        self.points = []

    def on_loss(self, point):
        self.points.append(point)
        return []


@pytest.mark.parametrize(
    "tag, is_validation",
    [("loss/val", True), ("val_loss", True), ("Loss/Validation", True), ("eval/loss", True),
     ("loss/test", True), ("loss/train", False), ("interval_loss", False), ("loss", False)],
)
def test_validation_tags_are_recognised(logdir, tag, is_validation):
    """loss/val-like tags reach the detectors as validation losses; train-like ones do not."""
    recorder = _Recorder()
    with DiagWriter(logdir, detectors=[recorder]) as writer:
        writer.add_scalar(tag, 1.0, 0)
    assert recorder.points[0].is_validation is is_validation


def test_loss_tensor_graph_reaches_detectors(logdir):
    """A logged loss tensor carries what its autograd graph says (here: cross-entropy)."""
    recorder = _Recorder()
    logits = torch.nn.Linear(4, 3)(torch.randn(8, 4))
    loss = torch.nn.functional.cross_entropy(logits, torch.randint(0, 3, (8,)))
    with DiagWriter(logdir, detectors=[recorder]) as writer:
        writer.add_scalar("loss", loss, 0)
        writer.add_scalar("loss", loss.item(), 1)
    assert recorder.points[0].graph.loss_fn == "cross_entropy" and recorder.points[0].graph.nonnegative
    assert recorder.points[1].graph is None


def test_a_healthy_run_is_marked_as_diagnosed(logdir):
    """A DiagWriter run with no findings still leaves one (empty) lossdiag record, and only one."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    with DiagWriter(logdir) as writer:
        for step in range(20):
            writer.add_scalar("loss", 1.0 / (step + 1), step)
    (name,) = os.listdir(logdir)
    records = [
        v for e in EventFileLoader(os.path.join(logdir, name)).Load() for v in e.summary.value
        if v.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME
    ]
    assert len(records) == 1
    assert read_logdir(logdir)[0].events == []


def _script_without_close(logdir, steps, last_line="", deferrable=False):
    """Run, in a child process, a loop whose only finding is a warning at step 3 and that never
    calls close(); its buffers are far larger than the run, so only an exit flush can save them."""
    child = (
        "from tb_lossdiag import DiagWriter, Detector\n"
        "class AtThree(Detector):\n"
        "    id = 'at_three'\n"
        f"    deferrable = {deferrable}\n"
        "    def on_loss(self, p):\n"
        "        return [self.event(p.step, 'warning', p.tag, 'm', 'h')] if p.step == 3 else []\n"
        f"w = DiagWriter({logdir!r}, flush_secs=10_000, max_queue=10_000, detectors=[AtThree()])\n"
        f"for s in range({steps}): w.add_scalar('loss', 1.0, s)\n"
        f"{last_line}\n"
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, timeout=120)
    (run,) = read_logdir(logdir)
    return proc, [(e.step, e.kind) for e in run.events]


def test_exit_without_close_flushes(logdir):
    """A script that ends without close() still has its buffered records on disk."""
    proc, events = _script_without_close(logdir, steps=5)
    assert proc.returncode == 0 and events == [(3, "at_three")]


def test_ctrl_c_still_flushes(logdir):
    """A run stopped by Ctrl-C (KeyboardInterrupt) without close() still has its records on disk."""
    proc, events = _script_without_close(logdir, steps=5, last_line="raise KeyboardInterrupt")
    assert b"KeyboardInterrupt" in proc.stderr and events == [(3, "at_three")]


def test_deferred_curve_findings_reach_disk_without_close(logdir):
    """Curve detectors see values in batches; a script that ends without close() still records them."""
    # Four values: fewer than a batch, so the finding is still waiting when the script ends.
    proc, events = _script_without_close(logdir, steps=4, deferrable=True,
                                         last_line="assert len(w._diagnoser._deferred) == 4")
    assert proc.returncode == 0 and events == [(3, "at_three")]


def test_the_loss_tags_it_diagnosed_are_recorded_for_the_report_and_the_tab(tmp_path):
    """A run whose loss is not named "loss" still has its curve found: the writer records its tags."""
    from tb_lossdiag import read_logdir

    with DiagWriter(str(tmp_path), loss_tags="objective") as writer:
        for step in range(3):
            writer.add_scalar("objective", 1.0 / (step + 1), step)
            writer.add_scalar("val/objective", 1.0, step)
            writer.add_scalar("accuracy", 0.5, step)
    assert read_logdir(str(tmp_path))[0].loss_tags == ["objective", "val/objective"]


def test_stop_on_error_raises_with_the_diagnosis_not_the_first_symptom(logdir):
    """Training stopped by an error is told the root cause, an earlier warning, and its fix."""
    rng = np.random.default_rng(0)
    writer = DiagWriter(logdir, stop_on_error=True)
    with pytest.raises(DiagnosticError) as raised:
        for step in range(400):
            level = 2.0 - 0.005 * step if step < 100 else 1.5 * 1.02 ** (step - 100)
            writer.add_scalar("loss/train", level * (1 + 0.01 * rng.standard_normal()), step)
    writer.close()
    root = raised.value.diagnosis.root
    assert root.severity == "warning" and root.step < raised.value.event.step
    assert f"Root cause ({raised.value.diagnosis.confidence})" in str(raised.value)
    assert raised.value.diagnosis.fix in str(raised.value)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_a_loss_read_with_the_gradient_statistics_is_written_as_item_reads_it(logdir, dtype):
    """Swap-only statistics ride along with the loss's own host transfer: the value diagnosed is
    still exactly loss.item(), and the value written SummaryWriter's record of it, in every float
    dtype, on sampled and unsampled steps."""
    recorder = _Recorder()
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1).to(dtype)
    expected = []
    with DiagWriter(logdir, detectors=[*default_detectors(), recorder]) as writer:
        for step in range(12):
            model.zero_grad()
            loss = model(torch.randn(8, 4, dtype=dtype)).square().mean() / 3
            loss.backward()
            expected.append(loss.item())
            writer.add_scalar("loss", loss, step)
    diagnosed = [point.value for point in recorder.points]
    assert diagnosed == expected and all(type(v) is float for v in diagnosed)
    written = [value.simple_value for path in pathlib.Path(logdir).glob("*tfevents*")
               for event in LegacyEventFileLoader(str(path)).Load() for value in event.summary.value if value.tag == "loss"]
    assert written == [float(np.float32(v)) for v in expected]
