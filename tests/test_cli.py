"""The tb-lossdiag report command, as a terminal or CI user runs it."""

import io
import json
import os
import subprocess
import sys

from tb_lossdiag import DiagWriter, cli
from tb_lossdiag.cli import main

NAN = float("nan")


def _nan_run(logdir, name="nan"):
    with DiagWriter(os.path.join(logdir, name)) as writer:
        for step, value in enumerate([1.0, 0.9, NAN]):
            writer.add_scalar("loss/train", value, step)


def test_json_report_has_exactly_the_documented_shape(logdir, capsys):
    """--format json prints {"runs": [{"run", "events": [{step, kind, severity, tag, message, hint}]}]}."""
    _nan_run(logdir)
    assert main(["report", logdir, "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    (run,) = payload["runs"]
    assert run["run"] == "nan"
    (event,) = run["events"]
    assert {k: type(event[k]) for k in ("step", "kind", "severity", "tag", "message", "hint")} == {
        "step": int, "kind": str, "severity": str, "tag": str, "message": str, "hint": str,
    }
    assert (event["step"], event["kind"], event["severity"], event["tag"]) == (2, "nonfinite_loss", "error", "loss/train")
    assert event["evidence"] == {"value": "nan"}


def test_text_report_names_the_run_the_step_and_the_fix(logdir, capsys):
    """The default table shows each run's health and each event with its fix."""
    _nan_run(logdir)
    with DiagWriter(os.path.join(logdir, "healthy")) as writer:
        writer.add_scalar("loss", 1.0, 0)
    assert main(["report", logdir]) == 0
    out = capsys.readouterr().out
    assert "healthy  (healthy: no findings)" in out
    assert "nan  (1 error)" in out
    assert "nonfinite_loss" in out and "fix: Check the data" in out


def test_fail_on_sets_the_exit_status(logdir, capsys):
    """--fail-on error exits 1 when an error exists; a healthy log directory exits 0."""
    _nan_run(logdir)
    assert main(["report", logdir, "--fail-on", "error"]) == 1
    assert main(["report", logdir, "--fail-on", "warning"]) == 1
    healthy = os.path.join(logdir, "..", "healthy_only")
    with DiagWriter(healthy) as writer:
        writer.add_scalar("loss", 1.0, 0)
    assert main(["report", healthy, "--fail-on", "warning"]) == 0


def test_bad_input_is_a_message_not_a_traceback(tmp_path):
    """A missing directory or one with no event files exits 2 with a clear message."""
    for target, expected in [(tmp_path / "missing", "does not exist"), (tmp_path, "no event files")]:
        proc = subprocess.run(
            [sys.executable, "-m", "tb_lossdiag", "report", str(target)],
            capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 2
        assert expected in proc.stderr and "Traceback" not in proc.stderr


def test_corrupt_file_still_reports_what_was_readable(logdir, capsys):
    """Events before a corruption are reported; the damage is a notice on stderr."""
    _nan_run(logdir)
    run_dir = os.path.join(logdir, "nan")
    (name,) = os.listdir(run_dir)
    with open(os.path.join(run_dir, name), "ab") as f:
        f.write(b"\x00\x01garbage")
    assert main(["report", logdir, "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["runs"][0]["events"][0]["kind"] == "nonfinite_loss"
    assert "truncated" in captured.err or "corrupt" in captured.err


def test_data_findings_are_marked_before_training(logdir, capsys):
    """A data check's finding reads "before training" and is marked [data] in the table."""
    import pandas as pd

    with DiagWriter(os.path.join(logdir, "run")) as writer:
        writer.check_data(pd.DataFrame({"age": [30.0, None, 41.0, 25.0], "income": [1.0, 2.0, 3.0, 4.0]}))
    assert main(["report", logdir]) == 0
    out = capsys.readouterr().out
    assert "before training" in out and "missing_values [data]" in out and "data/age" in out


def _records_run(logdir, name, events):
    """A run holding one lossdiag record of `events`, as a DiagWriter writes it."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from tb_lossdiag import metadata
    from tb_lossdiag.summary import events_summary

    writer = EventFileWriter(os.path.join(logdir, name))
    writer.add_event(event_pb2.Event(step=0, wall_time=1.7e9, summary=events_summary(metadata.TAG_PREFIX + "w", events)))
    writer.close()


def test_the_diagnosis_comes_first_in_the_table_and_in_json(logdir, capsys):
    """Each run's diagnosis (root, chain, confidence, fix) is printed before its events; JSON has it per
    run, an empty list for a healthy run."""
    _nan_run(logdir)
    with DiagWriter(os.path.join(logdir, "healthy")) as writer:
        writer.add_scalar("loss", 1.0, 0)
    assert main(["report", logdir]) == 0
    out = capsys.readouterr().out
    block = out[out.index("nan  (1 error)"):]
    assert block.index("DIAGNOSIS 1 (likely): root nonfinite_loss on loss/train at step 2") < block.index("ERROR    nonfinite_loss")
    assert "Fix: Check the data" in block.splitlines()[2]
    assert main(["report", logdir, "--format", "json"]) == 0
    runs = {run["run"]: run for run in json.loads(capsys.readouterr().out)["runs"]}
    (diagnosis,) = runs["nan"]["diagnosis"]
    assert (diagnosis["root"]["kind"], diagnosis["confidence"]) == ("nonfinite_loss", "likely")
    assert diagnosis["fix"].startswith("Check the data") and diagnosis["consequences"] == []
    assert runs["healthy"]["diagnosis"] == [] and set(runs["healthy"]) == {"run", "events", "notices", "diagnosis", "combined"}


def test_a_warning_whose_condition_ended_is_shown_as_ended_with_its_span(logdir, capsys):
    """A plateau that ended at step 250 reads "steps 100-250 ENDED", not as a standing warning."""
    from tb_lossdiag.events import Event

    plateau = Event(100, "loss_plateau", "warning", "loss", "loss has not improved", "raise the learning rate")
    ended = Event(250, "loss_plateau", "info", "loss", "loss_plateau on loss ended at step 250 (steps 100-250)",
                  "nothing to do", {"ended": 1.0, "start_step": 100.0, "end_step": 250.0})
    _records_run(logdir, "run", [plateau, ended])
    assert main(["report", logdir]) == 0
    out = capsys.readouterr().out
    assert "run  (1 ended)" in out
    assert "steps 100-250    ENDED    loss_plateau" in out and "(ended at step 250)" in out
    assert "WARNING" not in out and "INFO" not in out


def _long_report(logdir):
    """A run whose report is far longer than a pipe holds (64 KiB), so the writer outlives `head`."""
    from tb_lossdiag.events import Event

    _records_run(logdir, "long", [Event(s, "loss_spike", "warning", "loss", "m" * 400, "h") for s in range(500)])


def test_a_closed_pipe_ends_report_and_scan_quietly(logdir):
    """`tb-lossdiag report LOGDIR | head -1` (and scan) prints one line and no traceback."""
    _long_report(logdir)
    for command in ("report", "scan"):
        proc = subprocess.run(f'"{sys.executable}" -m tb_lossdiag {command} "{logdir}" | head -1',
                              shell=True, capture_output=True, text=True, timeout=120)
        assert proc.stdout == "long  (500 warning)\n"
        assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_waiting_terminal_gets_a_progress_line_and_json_none(logdir, capsys, monkeypatch):
    """On a terminal, a read that takes a while shows "reading N%" on stderr, cleared before the report;
    JSON output and a stderr that is not a terminal get none."""
    _nan_run(logdir)
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.delenv("CI", raising=False)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["report", logdir]) == 0
    assert "\rtb-lossdiag: reading 100% (0 of 0 MB)\r\033[K" in terminal.getvalue()
    terminal.truncate(0)
    assert main(["report", logdir, "--format", "json"]) == 0
    assert "reading" not in terminal.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert main(["report", logdir]) == 0
    assert "reading" not in sys.stderr.getvalue()


def test_batch_prints_where_the_nan_sits_in_a_kept_batch(logdir, capsys):
    """`tb-lossdiag batch FILE` on the file watch(guard=True) kept: the argument's row and column
    of the NaN; a file that is not a batch file exits 2 with a message."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with DiagWriter(logdir) as writer:
        writer.watch(model, optimizer, guard=True)
        for step in range(3):
            x = torch.randn(8, 4)
            if step == 1:
                x[5, 2] = NAN
            optimizer.zero_grad()
            model(x).sum().backward()
            optimizer.step()
    path = os.path.join(logdir, "lossdiag", "batch-1.pt")
    assert main(["batch", path]) == 0
    out = capsys.readouterr().out
    assert "args[0]: float32 [8, 4], NaN 1, Inf 0 of 32, in rows 5 (1 of 8), columns 2 (1 of 4)" in out
    not_a_batch = os.path.join(logdir, "notes.txt")
    with open(not_a_batch, "w") as f:
        f.write("hello")
    assert main(["batch", not_a_batch]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_report_shows_a_sharded_jobs_combined_norms(logdir, capsys):
    """FSDP ranks each write their shard's norms: the report prints the job's global gradient norm
    (sqrt(3^2 + 4^2) = 5) on rank 0's run, and JSON carries the combined points."""
    from plugin.harness import shard, write_sharded_job

    write_sharded_job(logdir, {".": {0: shard(3.0)}, "rank1": {0: shard(4.0)}})
    assert main(["report", logdir]) == 0
    out = capsys.readouterr().out
    assert "sharded job, every rank's shard combined, at step 0: gradient norm 5" in out
    assert main(["report", logdir, "--format", "json"]) == 0
    runs = {run["run"]: run for run in json.loads(capsys.readouterr().out)["runs"]}
    assert runs["."]["combined"]["diag/job/grad_norm"] == [[0, 5.0]]
    assert runs["rank1"]["combined"] == {}
