"""The tb-lossdiag report command, as a terminal or CI user runs it."""

import json
import os
import subprocess
import sys

from tb_lossdiag import DiagWriter
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
