"""The loader: TensorBoard keeps every lossdiag record, under the Python and the Rust loader."""

import pytest
from tensorboard import default, program

from tb_lossdiag import metadata
from tb_lossdiag.plugin.loader import LossDiagLoader

from .harness import event, serve, write_events


def configured_flags(*argv):
    """TensorBoard's parsed flags after every loader's fix_flags, ours included (as `tensorboard` does)."""
    tb = program.TensorBoard(plugins=default.get_plugins() + default.get_dynamic_plugins())
    tb.configure(argv=["tensorboard", "--logdir", "unused", *argv])
    return tb.flags


def test_the_entry_point_registers_the_loader():
    """`pip install` makes TensorBoard find the plugin through the tensorboard_plugins entry point."""
    assert LossDiagLoader in default.get_dynamic_plugins()


def test_fix_flags_keeps_every_lossdiag_record_by_default():
    """samples_per_plugin lossdiag=0 (all) unless the user said otherwise; scalars untouched."""
    flags = configured_flags()
    assert flags.samples_per_plugin[metadata.PLUGIN_NAME] == 0
    assert "scalars" not in flags.samples_per_plugin


def test_fix_flags_keeps_the_users_explicit_value():
    """--samples_per_plugin lossdiag=5,scalars=200 stays exactly as the user wrote it."""
    flags = configured_flags("--samples_per_plugin", "lossdiag=5,scalars=200")
    assert flags.samples_per_plugin == {"lossdiag": 5, "scalars": 200}


EXPECTED = {"big": 10_000, "restarted": 160}
LOSS = [1.0, float("nan"), float("inf"), float("-inf"), 0.5]


@pytest.fixture(scope="module")
def big_logdir(tmp_path_factory):
    """10,000 events in one run, one record each, and a loss that goes NaN, +Inf and -Inf; and a run
    restarted from step 50 after step 99."""
    logdir = str(tmp_path_factory.mktemp("loaders") / "runs")
    write_events(logdir, "big", [[event(s)] for s in range(10_000)], losses={"loss": LOSS})
    write_events(logdir, "restarted", [[event(s, "first")] for s in range(100)])
    write_events(logdir, "restarted", [[event(s, "second")] for s in range(50, 110)])
    return logdir


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_a_real_tensorboard_returns_every_event(big_logdir, load_fast):
    """Through a real `tensorboard --load_fast=<mode>` process: all 10,000 and all 160 events."""
    seen = {}

    def counts(tb):
        seen.update({run: len(tb.api(f"events?run={run}")["events"]) for run in EXPECTED})
        return seen == EXPECTED

    with serve(big_logdir, load_fast) as tb:
        try:
            tb.wait_until(counts, timeout=120)
        except AssertionError as error:
            raise AssertionError(f"--load_fast={load_fast} returned {seen}, expected {EXPECTED}\n{error}") from None
        runs = {r["run"]: r for r in tb.api("runs")["runs"]}
        assert runs["restarted"]["counts"]["warning"] == 160
        events = tb.api("events?run=restarted")["events"]
        assert sorted(e["step"] for e in events if e["kind"] == "second") == list(range(50, 110))
        # Both loaders hand non-finite scalars on as floats; the route spells them out.
        assert tb.api("curves?run=big")["curves"][0]["values"] == [1.0, "nan", "inf", "-inf", 0.5]
