"""The demo gallery: every classic failure is diagnosed, every healthy run stays quiet."""

import pytest

from tb_lossdiag import demo, read_logdir


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """The whole gallery, trained once, read back from disk as a user's report would."""
    logdir = str(tmp_path_factory.mktemp("gallery"))
    demo.write_gallery(logdir)
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
