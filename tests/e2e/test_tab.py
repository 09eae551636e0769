"""What a user sees in the Loss Diagnostics tab: a real `tensorboard` process, headless Chromium."""

import os
import shutil
import tempfile
import time

import pytest

from tb_lossdiag import DiagWriter
from tb_lossdiag import writer as writer_module

from plugin.harness import NAN_COLUMN, NAN_STEP, event, serve, write_events, write_gallery

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
XSS_TAG = "loss/<img src=x onerror=\"window.__xss='tag'\">"
XSS_MESSAGE = "<script>window.__xss='message'</script><b>not bold</b>"


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (no browser download), fresh profile."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium is needed for the browser tests and is missing at {CHROMIUM}: run `make test` "
            "(it installs it) or `apt-get install chromium`"
        )
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="lossdiag-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """TensorBoard serving runs of a tiny real model: healthy, NaN in the data, nll on softmax, plain."""
    logdir = str(tmp_path_factory.mktemp("e2e") / "runs")
    write_gallery(logdir)
    with serve(logdir, ready=lambda tb: len(tb.api("runs")["runs"]) == 4) as tb:
        yield tb


def open_tab(browser, url, dark=False):
    """(page, plugin frame) once the tab has drawn its run list."""
    page = browser.new_page()
    page.emulate_media(color_scheme="dark" if dark else "light")
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/#lossdiag")
    # TensorBoard puts the tab in an iframe (page.frames does not list it: ask the element).
    iframe = page.locator("iframe[src*='plugin_entry.html?name=lossdiag']")
    iframe.wait_for(state="attached", timeout=30000)
    frame = iframe.element_handle().content_frame()
    try:
        frame.wait_for_selector(".ld-run-card .u-over", timeout=30000)
    except Exception as error:
        raise AssertionError(f"the tab did not render in 30 s; page errors: {errors}") from error
    assert not errors, errors
    return page, frame


@pytest.fixture(scope="module")
def tab(browser, gallery):
    """The gallery's tab, opened once."""
    page, frame = open_tab(browser, gallery.url)
    yield page, frame
    page.close()


def run_row(frame, run):
    return frame.locator(f".ld-run[data-run='{run}']")


def chart(frame, run):
    return frame.locator(f".ld-run-card[data-run='{run}'] .ld-chart").first


def test_the_tab_is_in_tensorboard(tab):
    """TensorBoard's header has a "Loss Diagnostics" tab; /#lossdiag opens it."""
    page, _ = tab
    assert page.get_by_text("Loss Diagnostics", exact=True).first.is_visible()


def test_every_run_shows_its_health_and_first_error(tab):
    """Healthy, errored and plain SummaryWriter runs are told apart at a glance."""
    _, frame = tab
    assert run_row(frame, "healthy").get_attribute("data-health") == "healthy"
    assert "Healthy" in run_row(frame, "healthy").inner_text()
    nan = run_row(frame, "nan_in_data")
    assert nan.get_attribute("data-health") == "error"
    assert f"step {NAN_STEP}: nonfinite_input" in nan.inner_text()
    assert "step 0: nll_on_probabilities" in run_row(frame, "nll_on_softmax").inner_text()
    plain = run_row(frame, "plain_summarywriter")
    assert plain.get_attribute("data-health") == "undiagnosed"
    assert "not diagnosed" in plain.inner_text()
    assert "2 with errors" in frame.locator(".ld-summary").inner_text()


def test_markers_sit_at_the_anomalies_steps(tab):
    """The NaN run's chart has markers where the train and val losses became NaN."""
    _, frame = tab
    steps = chart(frame, "nan_in_data").get_attribute("data-marker-steps").split(",")
    assert {str(NAN_STEP), "40"} <= set(steps)


def test_hovering_a_marker_shows_its_event(tab):
    """The mouse over the marker at the NaN step shows the event, its message and its fix."""
    page, frame = tab
    el = chart(frame, "nan_in_data")
    el.scroll_into_view_if_needed()
    x_min, x_max = float(el.get_attribute("data-x-min")), float(el.get_attribute("data-x-max"))
    box = el.locator(".u-over").bounding_box()
    x = box["x"] + (NAN_STEP - x_min) / (x_max - x_min) * box["width"]
    page.mouse.move(x, box["y"] + box["height"] / 2)
    tip = el.locator(".ld-tip")
    tip.wait_for(state="visible", timeout=5000)
    text = tip.inner_text()
    assert f"step {NAN_STEP}" in text and "nonfinite_loss" in text and "Fix:" in text


def test_the_diagnosis_card_names_the_input_column_and_the_step(tab):
    """At the top of the NaN run: the root cause (the NaN in input column 2 at step 37), the chain of
    what it caused, how sure, and the fix."""
    _, frame = tab
    card = frame.locator(".ld-run-card[data-run='nan_in_data'] .ld-diagnosis")
    assert card.count() == 1
    assert card.get_attribute("data-kind") == "nonfinite_input" and card.get_attribute("data-step") == str(NAN_STEP)
    text = card.inner_text()
    assert "ROOT CAUSE" in text.upper() and "nonfinite_input" in text and f"step {NAN_STEP}" in text
    assert f"column {NAN_COLUMN}" in text and "certain" in text
    assert f"loss/train NaN at step {NAN_STEP}" in card.locator(".ld-chain").inner_text()
    assert "FIX" in text.upper() and "Clean the data" in text
    assert frame.locator(".ld-run-card[data-run='healthy'] .ld-diagnosis").count() == 0


def test_the_nan_stretch_is_a_shaded_band_with_its_count(tab):
    """From the NaN step to the end the curves are NaN: a red band there, labelled with the count,
    and the legend reads NaN inside it instead of a blank."""
    page, frame = tab
    el = chart(frame, "nan_in_data")
    el.scroll_into_view_if_needed()
    # loss/train: steps 37-159 (123 values); loss/val: 40, 50, ... 150 (12 values).
    assert el.get_attribute("data-nonfinite") == f"{NAN_STEP}-159: NaN: 135 values in 2 curves"
    x_min, x_max = float(el.get_attribute("data-x-min")), float(el.get_attribute("data-x-max"))
    box = el.locator(".u-over").bounding_box()

    def pixel(step):
        """The plot's colour at `step`, near its bottom (below the curves before the NaN; none after)."""
        x = (step - x_min) / (x_max - x_min) * box["width"]
        return frame.evaluate(
            """([sel, x, y]) => { const c = document.querySelector(sel); const over = c.parentElement.querySelector('.u-over');
                 const r = c.width / c.getBoundingClientRect().width;
                 return Array.from(c.getContext('2d').getImageData(Math.round((over.offsetLeft + x) * r), Math.round((over.offsetTop + y) * r), 1, 1).data); }""",
            [".ld-run-card[data-run='nan_in_data'] .ld-chart canvas", x, box["height"] * 0.9],
        )

    inside, before = pixel(110), pixel(10)
    assert inside[0] - inside[1] > 8, f"no red band at step 110: {inside}"
    assert abs(before[0] - before[1]) <= 8 or before[3] == 0, f"a band before the NaN: {before}"
    page.mouse.move(box["x"] + (110 - x_min) / (x_max - x_min) * box["width"], box["y"] + box["height"] * 0.9)
    frame.wait_for_function(
        "() => document.querySelector(\".ld-run-card[data-run='nan_in_data'] .u-legend\").innerText.includes('NaN')", timeout=5000
    )
    page.mouse.move(0, 0)


def test_the_event_list_nests_what_the_root_cause_explains(tab):
    """The root cause: severity, kind, step, message, fix and evidence; the loss NaNs it caused nested
    under it with their spans (onset and reminder of each one condition), not as findings of their own."""
    _, frame = tab
    row = frame.locator(f".ld-event.ld-root-cause[data-run='nan_in_data'][data-step='{NAN_STEP}']")
    text = row.inner_text()
    assert "ERROR" in text.upper() and "nonfinite_input" in text and f"column {NAN_COLUMN}" in text
    assert "FIX" in text.upper() and "Clean the data" in text
    assert "2" in row.locator(".ld-evidence").inner_text()
    nested = row.locator(".ld-consequence").evaluate_all(
        "els => els.map(e => [e.dataset.kind, e.querySelector('.ld-tag').innerText, e.querySelector('.ld-when').innerText])")
    # The NaN-origin search's event (the same batch) is nested too: part of this diagnosis.
    assert "nonfinite_origin" in [kind for kind, _, _ in nested]
    assert [n for n in nested if n[0] != "nonfinite_origin"] == [
        ["nonfinite_loss", "loss/train", f"steps {NAN_STEP}–137 · 2 reports"],
        ["nonfinite_loss", "loss/val", "steps 40–140 · 2 reports"],
    ]
    top_level_kinds = frame.locator(".ld-events > .ld-event[data-run='nan_in_data']").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert top_level_kinds == ["nonfinite_input"]


def test_a_run_without_watch_says_what_watch_adds(tab):
    """The writer-only run has one quiet line about watch(); the watched run has none."""
    _, frame = tab
    line = frame.locator(".ld-run-card[data-run='nll_on_softmax'] .ld-quiet")
    assert "writer.watch(model, optimizer)" in line.inner_text() and "activation and input checks" in line.inner_text().lower()
    assert frame.locator(".ld-run-card[data-run='nan_in_data'] .ld-quiet").count() == 0


def test_several_events_at_one_step_are_all_listed(tab):
    """nll on softmax: two findings at step 0, both in the list."""
    _, frame = tab
    kinds = frame.locator(".ld-event[data-run='nll_on_softmax'][data-step='0']").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert {"nll_on_probabilities", "negative_loss"} <= set(kinds)
    assert "LogSoftmax" in frame.locator(".ld-event[data-kind='nll_on_probabilities']").inner_text()


def test_clicking_an_event_centres_the_chart_on_it(tab):
    """After a zoom-out of the whole run, a click on the event zooms in around its step and highlights it."""
    _, frame = tab
    el = chart(frame, "nan_in_data")
    full = float(el.get_attribute("data-x-max")) - float(el.get_attribute("data-x-min"))
    frame.locator(f".ld-event[data-run='nan_in_data'][data-step='{NAN_STEP}'] .ld-msg").first.click()
    frame.wait_for_function(
        "step => document.querySelector(\".ld-run-card[data-run='nan_in_data'] .ld-chart\").dataset.highlightStep === step",
        arg=str(NAN_STEP), timeout=5000,
    )
    x_min, x_max = float(el.get_attribute("data-x-min")), float(el.get_attribute("data-x-max"))
    assert x_min < NAN_STEP < x_max
    assert abs((x_min + x_max) / 2 - NAN_STEP) < 1
    assert x_max - x_min < full
    assert "ld-selected" in frame.locator(f".ld-event[data-run='nan_in_data'][data-step='{NAN_STEP}']").first.get_attribute("class")


def test_filters_by_severity(tab):
    """Turning errors off hides the error events."""
    _, frame = tab
    errors = frame.locator(".ld-filter[data-severity='error']")
    errors.click()
    try:
        frame.wait_for_function("() => !document.querySelector('.ld-event.ld-sev-error')", timeout=5000)
    finally:
        errors.click()
    frame.locator(".ld-event.ld-sev-error").first.wait_for(timeout=5000)


def test_a_plain_summarywriter_run_shows_curves_and_a_note(tab):
    """Selecting it draws its loss curve and says it was not diagnosed while training."""
    _, frame = tab
    run_row(frame, "plain_summarywriter").click()
    card = frame.locator(".ld-run-card[data-run='plain_summarywriter']")
    card.wait_for(timeout=10000)
    assert "Not diagnosed while training" in card.inner_text()
    assert "loss/train" in card.locator(".u-legend").inner_text()
    run_row(frame, "nan_in_data").click()
    frame.locator(".ld-run-card[data-run='nan_in_data']").wait_for(timeout=10000)


def test_screenshot(browser, gallery, tmp_path):
    """The README's screenshot, the NaN run's diagnosis card and band: always into pytest's tmp dir;
    also to $LOSSDIAG_SCREENSHOT if set."""
    page, frame = open_tab(browser, gallery.url)
    try:
        run_row(frame, "nan_in_data").click()
        frame.wait_for_function("() => document.querySelectorAll('.ld-run-card').length === 1", timeout=10000)
        page.mouse.move(0, 0)
        time.sleep(0.5)  # the redraw after the selection
        # Down to the end of the run's card and the event list: no empty page below them.
        bottom = max(frame.locator(sel).bounding_box()["y"] + frame.locator(sel).bounding_box()["height"] for sel in (".ld-run-card", ".ld-events-card"))
        clip = {"x": 0, "y": 0, "width": 1600, "height": min(1000, bottom + 16)}
        targets = [tmp_path / "screenshot.png"]
        if os.environ.get("LOSSDIAG_SCREENSHOT"):
            targets.append(os.environ["LOSSDIAG_SCREENSHOT"])
        for target in targets:
            page.screenshot(path=str(target), clip=clip)
        assert (tmp_path / "screenshot.png").stat().st_size > 20_000
    finally:
        page.close()


def test_dark_mode_follows_tensorboard(browser, gallery):
    """With the system in dark mode, TensorBoard and the tab are dark."""
    page, frame = open_tab(browser, gallery.url, dark=True)
    try:
        assert frame.evaluate("document.documentElement.classList.contains('ld-dark')")
        background = frame.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(48, 48, 48)"
    finally:
        page.close()


def test_all_clear_then_reload_brings_new_runs_whose_text_stays_text(browser, tmp_path):
    """A healthy logdir says so; TensorBoard's reload shows a new run; log text never runs as code."""
    logdir = str(tmp_path / "runs")
    with DiagWriter(os.path.join(logdir, "fine"), detectors=[]) as w:
        for s in range(20):
            w.add_scalar("loss", 1.0 / (s + 1), s)
    with serve(logdir, ready=lambda tb: len(tb.api("runs")["runs"]) == 1) as tb:
        page, frame = open_tab(browser, tb.url)
        try:
            banner = frame.locator(".ld-all-clear").inner_text()
            assert "No anomalies found in 1 run; checked: 1 loss curve (loss)" in banner
            write_events(logdir, "hostile", [[event(5, tag=XSS_TAG, message=XSS_MESSAGE, severity="error")]], losses={XSS_TAG: [1.0, 0.5]})
            tb.wait_until(lambda t: len(t.api("runs")["runs"]) == 2)
            page.locator("button.reload-button").click()  # TensorBoard's reload: no page reload
            row = run_row(frame, "hostile")
            row.wait_for(timeout=15000)
            row.click()
            event_row = frame.locator(".ld-event[data-run='hostile']")
            event_row.wait_for(timeout=10000)
            text = event_row.inner_text()
            assert XSS_TAG in text and XSS_MESSAGE in text
            assert frame.locator(".ld-event img, .ld-event script, .ld-event b:text('not bold')").count() == 0
            assert frame.evaluate("window.__xss") is None and page.evaluate("window.__xss") is None
        finally:
            page.close()


def test_a_data_finding_before_training_is_marked_as_such(browser, tmp_path):
    """check_data() found a missing value before training: the run says "before training:
    missing_values", the event has a data badge and reads "before training" (never -1), its marker
    sits at the start of the axis, and clicking it focuses the start."""
    import numpy as np
    import pandas as pd

    logdir = str(tmp_path / "runs")
    with DiagWriter(os.path.join(logdir, "data_check")) as w:
        w.check_data(pd.DataFrame({"age": [21.0, np.nan, 35.0, 40.0], "label": [0, 1, 0, 1]}))
        for s in range(50):
            w.add_scalar("loss", 1.0 / (s + 1), s)
    with serve(logdir, ready=lambda tb: len(tb.api("runs")["runs"]) == 1) as tb:
        page, frame = open_tab(browser, tb.url)
        try:
            status = run_row(frame, "data_check").locator(".ld-run-status")
            assert "before training: missing_values" in status.inner_text()
            assert status.locator(".ld-badge-data").count() == 1
            row = frame.locator(".ld-event[data-run='data_check'][data-kind='missing_values']")
            text = row.inner_text()
            assert "before training" in text and "data/age" in text and "-1" not in text
            assert row.locator(".ld-badge-data").inner_text().strip().lower() == "data"
            el = chart(frame, "data_check")
            assert "-1" in el.get_attribute("data-marker-steps").split(",")
            assert float(el.get_attribute("data-x-min")) < 0  # the marker's room left of step 0
            row.click()
            frame.wait_for_function(
                "() => document.querySelector(\".ld-run-card[data-run='data_check'] .ld-chart\").dataset.highlightStep === '-1'",
                timeout=5000,
            )
            assert float(el.get_attribute("data-x-min")) < 0 < float(el.get_attribute("data-x-max"))
        finally:
            page.close()


def test_an_event_from_a_nonzero_rank_shows_its_rank(browser, tmp_path, monkeypatch):
    """Under DDP rank 1's NaN is labelled "rank 1" in the event list; rank 0's events carry no rank chip."""
    logdir = str(tmp_path / "runs")
    for rank in (0, 1):
        monkeypatch.setattr(writer_module, "_distributed_rank", lambda rank=rank: rank)
        with DiagWriter(os.path.join(logdir, f"r{rank}")) as w:
            for s in range(20):
                w.add_scalar("loss", float("nan") if s == 10 else 1.0, s)
    with serve(logdir, ready=lambda tb: len(tb.api("runs")["runs"]) == 2) as tb:
        page, frame = open_tab(browser, tb.url)
        try:
            rows = {run: frame.locator(f".ld-event[data-run='{run}'][data-kind='nonfinite_loss']") for run in ("r0", "r1")}
            assert rows["r1"].locator(".ld-rank").inner_text() == "rank 1"
            assert rows["r0"].count() == 1 and rows["r0"].locator(".ld-rank").count() == 0
        finally:
            page.close()
