"""The demo gallery: every classic failure is diagnosed, every healthy run stays quiet."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tb_lossdiag import demo, read_logdir
from tb_lossdiag.cli import main


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """The whole gallery written by `tb-lossdiag demo --no-serve`, read back as a report would."""
    logdir = str(tmp_path_factory.mktemp("gallery"))
    assert main(["demo", logdir, "--no-serve"]) == 0
    assert main(["demo", logdir, "--no-serve"]) == 0  # a second demo replaces the first
    return {run.run: run.events for run in read_logdir(logdir)}


def test_gallery_has_one_run_per_scenario(gallery):
    """tb-lossdiag demo writes a run for every scenario."""
    assert sorted(gallery) == sorted(s.name for s in demo.SCENARIOS)


@pytest.mark.parametrize("scenario", demo.SCENARIOS, ids=lambda s: s.name)
def test_each_scenario_raises_exactly_its_findings(gallery, scenario):
    """Each failure run shows the kinds it was built to show; healthy runs show no warning or error."""
    found = {e.kind for e in gallery[scenario.name] if e.severity != "info"}
    assert set(scenario.expect) <= found, f"missing {set(scenario.expect) - found}"
    if not scenario.expect:
        assert found == set()
    onsets = [(e.step, e.kind, e.tag) for e in gallery[scenario.name]]
    assert len(onsets) == len(set(onsets)), "the second demo run must replace the first, not add to it"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_tensorboard_with_the_tab(tmp_path):
    """`tb-lossdiag demo` prints a Loss Diagnostics URL where TensorBoard lists the lossdiag plugin."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tb_lossdiag", "demo", str(tmp_path), "--only", "healthy_regression",
         "--host", "127.0.0.1", "--port", str(_free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 300
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("Loss Diagnostics: "):
                url = line.split()[2]
            elif not line and proc.poll() is not None:
                break
        assert url is not None and url.endswith("/#lossdiag"), "demo never printed its URL"
        base = url[: -len("#lossdiag")]
        listing = json.loads(urllib.request.urlopen(base + "data/plugins_listing", timeout=30).read())
        assert listing["lossdiag"]["tab_name"] == "Loss Diagnostics"
        assert os.listdir(tmp_path) == ["healthy_regression"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_unknown_scenario_is_named(tmp_path):
    """A typo in --only lists the scenarios to choose from."""
    with pytest.raises(ValueError, match="healthy_regression"):
        demo.write_gallery(str(tmp_path), ["healthy_regresion"])
