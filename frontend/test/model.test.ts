// Unit tests of the tab's pure logic (src/model.ts), run by scripts/test.mjs with node's test runner.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DiagEvent, RunSummary, Severity } from "../src/api";
import {
  alignCurves,
  allClearMessage,
  briefLine,
  categoryBadge,
  countBySeverity,
  defaultSelection,
  detectorList,
  filterRows,
  filterRuns,
  focusRange,
  focusStart,
  formatValue,
  groupConditions,
  keepSelection,
  kindsOf,
  nearestIndex,
  overviewLine,
  placeMarkers,
  rankLabel,
  runHealth,
  sortByStep,
  sortRuns,
  spanLabel,
  toRows,
  whenLabel,
  zoomRange,
} from "../src/model";

function ev(step: number, kind = "nonfinite_loss", severity: Severity = "error", tag = "loss/train", wall_time = step, category = "curve"): DiagEvent {
  return { step, kind, severity, tag, message: `${kind} at ${step}`, hint: "fix it", evidence: {}, category, wall_time, rank: 0 };
}

/** A data check's finding: before training unless a step is given. */
function dataEv(step = -1, kind = "missing_values", severity: Severity = "error"): DiagEvent {
  return ev(step, kind, severity, "data/age", 0, "data");
}

function run(name: string, counts: Partial<Record<Severity, number>> = {}, diagnosed = true, firstErrorStep: number | null = null): RunSummary {
  return {
    run: name,
    diagnosed,
    counts: { error: 0, warning: 0, info: 0, ...counts },
    first_error: firstErrorStep === null ? null : { step: firstErrorStep, kind: "nonfinite_loss", severity: "error", tag: "loss", category: "curve" },
    first_event: null,
    kinds: [],
    loss_tags: ["loss/train", "loss/val"],
    stat_tags: [],
    last_step: 100,
    notices: [],
  };
}

test("run health: errors, warnings, info-only is healthy, no record is undiagnosed", () => {
  assert.equal(runHealth(run("a", { error: 1, warning: 2 })), "error");
  assert.equal(runHealth(run("b", { warning: 1 })), "warning");
  assert.equal(runHealth(run("c", { info: 4 })), "healthy");
  assert.equal(runHealth(run("d", {}, false)), "undiagnosed");
});

test("runs needing attention come first, earliest error first, then healthy, then undiagnosed", () => {
  const sorted = sortRuns([run("plain", {}, false), run("ok"), run("late", { error: 1 }, true, 90), run("warn", { warning: 1 }), run("early", { error: 2 }, true, 5)]);
  assert.deepEqual(sorted.map((r) => r.run), ["early", "late", "warn", "ok", "plain"]);
});

test("the overview line counts runs by health", () => {
  assert.equal(overviewLine([run("a", { error: 1 }), run("b"), run("c", {}, false)]), "3 runs · 1 with errors · 1 healthy · 1 not diagnosed");
  assert.equal(overviewLine([run("a")]), "1 run · 1 healthy");
});

test("default selection: the runs needing attention (at most 3), else the first run", () => {
  const runs = sortRuns([run("a", { error: 1 }, true, 1), run("b", { warning: 1 }), run("c"), run("d", { error: 1 }, true, 2), run("e", { error: 1 }, true, 3)]);
  assert.deepEqual(defaultSelection(runs), ["a", "d", "e"]);
  assert.deepEqual(defaultSelection([run("x"), run("y")]), ["x"]);
  assert.deepEqual(keepSelection(["gone", "c"], runs), ["c"]);
  assert.deepEqual(keepSelection(["gone"], runs), ["a", "d", "e"]);
});

test("filtering runs by name ignores case; works with 100 runs", () => {
  const runs = Array.from({ length: 100 }, (_, i) => run(`Run_${i}`));
  assert.equal(filterRuns(runs, "run_1").length, 11);
  assert.equal(filterRuns(runs, "  ").length, 100);
});

test("the all-clear message names the runs and what was checked, only when nothing was found", () => {
  const clear = allClearMessage([run("a"), run("b"), run("c"), run("plain", {}, false)], ["nonfinite_loss", "nll_on_softmax"]);
  assert.equal(clear, "No anomalies found in 3 runs; checked: 2 loss curves (loss/train, loss/val) with nonfinite_loss, nll_on_softmax.");
  assert.equal(allClearMessage([run("a", { info: 1 })], ["x"]), null);
  assert.equal(detectorList(["a", "b", "c", "d", "e", "f"]), "6 detectors (a, b, c, d and 2 more)");
  assert.equal(allClearMessage([run("plain", {}, false)], ["x"]), null);
});

test("a persistent condition (onset + reminders of one run, kind and tag) is one group with its span", () => {
  const rows = [
    ...toRows("r", [ev(37), ev(137), ev(337), ev(40, "nonfinite_loss", "error", "loss/val"), ev(5, "spike", "warning")]),
    ...toRows("other", [ev(37)]),
  ];
  const groups = groupConditions(rows);
  assert.deepEqual(groups.map((g) => [g.run, g.kind, g.tag, g.events.length]), [
    ["r", "spike", "loss/train", 1],
    ["r", "nonfinite_loss", "loss/train", 3],
    ["other", "nonfinite_loss", "loss/train", 1],
    ["r", "nonfinite_loss", "loss/val", 1],
  ]);
  assert.equal(spanLabel(groups[1]), "steps 37–337 · 3 reports");
  assert.equal(spanLabel(groups[0]), "step 5");
  assert.equal(groups[1].first.step, 37);
});

test("a group takes the worst severity of its events", () => {
  const [group] = groupConditions(toRows("r", [ev(1, "slow", "info"), ev(2, "slow", "warning")]));
  assert.equal(group.severity, "warning");
});

test("several events at one step are all kept, in the order they were written", () => {
  const rows = toRows("r", [ev(10, "b", "warning", "t", 2), ev(10, "a", "error", "t", 1), ev(3, "c", "info")]);
  assert.deepEqual(sortByStep(rows).map((r) => r.kind), ["c", "a", "b"]);
  assert.equal(new Set(rows.map((r) => r.id)).size, 3);
});

test("filters by severity and kind; counts and kinds", () => {
  const rows = toRows("r", [ev(1, "nan", "error"), ev(2, "spike", "warning"), ev(3, "spike", "info"), ev(4, "plateau", "info")]);
  assert.deepEqual(filterRows(rows, { severities: new Set<Severity>(["error", "warning"]), kind: "" }).map((r) => r.step), [1, 2]);
  assert.deepEqual(filterRows(rows, { severities: new Set<Severity>(["error", "warning", "info"]), kind: "spike" }).map((r) => r.step), [2, 3]);
  assert.deepEqual(countBySeverity(rows), { error: 1, warning: 1, info: 2 });
  assert.deepEqual(kindsOf(rows), ["nan", "plateau", "spike"]);
});

test("curves logged at different steps share one axis; NaN is a gap (null), a missing step undefined", () => {
  const aligned = alignCurves([
    { tag: "train", steps: [0, 1, 2], values: [3, null, 1] },
    { tag: "val", steps: [0, 2, 4], values: [4, 2, 1] },
  ]);
  assert.deepEqual(aligned.steps, [0, 1, 2, 4]);
  assert.deepEqual(aligned.series[0], [3, null, 1, undefined]);
  assert.deepEqual(aligned.series[1], [4, undefined, 2, 1]);
});

test("focusing an event centres the chart on its step", () => {
  const [a, b] = focusRange(37, [0, 1000], [0, 1000]);
  assert.ok(a < 37 && 37 < b);
  assert.equal((a + b) / 2, 37);
  assert.equal(b - a, 200); // a fifth of the data when not zoomed in
  assert.deepEqual(focusRange(500, [0, 100], [0, 1000]), [450, 550]); // keeps the zoom width
});

test("wheel zoom keeps the step under the mouse in place", () => {
  const [a, b] = zoomRange([0, 100], 25, 0.5);
  assert.deepEqual([a, b], [12.5, 62.5]);
  assert.equal(zoomRange([0, 1], 0.5, 0.1)[1] - zoomRange([0, 1], 0.5, 0.1)[0], 1);
});

test("the nearest marker is found by binary search", () => {
  const steps = Float64Array.from([0, 10, 20, 1000]);
  assert.equal(nearestIndex(steps, 14), 1);
  assert.equal(nearestIndex(steps, 16), 2);
  assert.equal(nearestIndex(steps, 5000), 3);
  assert.equal(nearestIndex(steps, -4), 0);
  assert.equal(nearestIndex([], 3), -1);
});

test("evidence values read well", () => {
  assert.equal(formatValue("nan"), "NaN");
  assert.equal(formatValue("-inf"), "-∞");
  assert.equal(formatValue(1234), "1,234");
  assert.equal(formatValue(0.000012345), "1.234e-5");
  assert.equal(formatValue(0.123456), "0.1235");
});

test("a data check's finding before training reads 'before training', never -1", () => {
  assert.equal(whenLabel(-1), "before training");
  assert.equal(whenLabel(1234), "step 1,234");
  const [single] = groupConditions(toRows("r", [dataEv()]));
  assert.equal(spanLabel(single), "before training");
  const [again] = groupConditions(toRows("r", [dataEv(), dataEv(500)]));
  assert.equal(spanLabel(again), "before training–step 500 · 2 reports");
  const [twice] = groupConditions(toRows("r", [dataEv(), dataEv()]));
  assert.equal(spanLabel(twice), "before training · 2 reports");
  assert.ok(!spanLabel(again).includes("-1"));
});

test("the run overview names a first error found before training", () => {
  assert.equal(briefLine({ step: -1, kind: "missing_values", severity: "error", tag: "data/age", category: "data" }), "before training: missing_values");
  assert.equal(briefLine({ step: 37, kind: "nonfinite_loss", severity: "error", tag: "loss", category: "curve" }), "step 37: nonfinite_loss");
  const sorted = sortRuns([run("late", { error: 1 }, true, 5), run("data", { error: 1 }, true, -1)]);
  assert.deepEqual(sorted.map((r) => r.run), ["data", "late"]);
});

test("data and model findings get a badge; curve and unknown categories none", () => {
  assert.equal(categoryBadge("data"), "data");
  assert.equal(categoryBadge("model"), "model");
  assert.equal(categoryBadge("curve"), null);
  assert.equal(categoryBadge("astrology"), null);
  assert.equal(categoryBadge("constructor"), null);
  assert.equal(categoryBadge(undefined), null);
});

test("findings before training get their own marker left of the first step, never dropped", () => {
  const rows = toRows("r", [dataEv(), dataEv(-1, "label_range", "warning"), ev(0, "spike", "warning"), ev(50)]);
  const { markers, extent } = placeMarkers(rows, [0, 10, 100]);
  assert.deepEqual(markers.map((m) => [m.before, m.step, m.rows.length]), [[true, -1, 2], [false, 0, 1], [false, 50, 1]]);
  const start = markers[0];
  assert.equal(start.label, "data");
  assert.equal(start.severity, "error");
  assert.ok(start.x < 0 && start.x >= -5, `left of step 0, apart from its marker: ${start.x}`);
  assert.ok(extent[0] < start.x && extent[1] > 100);
  assert.deepEqual(markers.slice(1).map((m) => m.x), [0, 50]);
});

test("a finding before training without curves or other events is still placed; mixed ones are labelled", () => {
  const only = placeMarkers(toRows("r", [dataEv()]), []);
  assert.equal(only.markers.length, 1);
  assert.ok(only.extent[0] < only.markers[0].x && only.markers[0].x < only.extent[1]);
  const mixed = placeMarkers(toRows("r", [dataEv(), ev(-1, "diagnostic_failure", "warning")]), [0, 10]);
  assert.equal(mixed.markers[0].label, "before training");
  assert.deepEqual(placeMarkers([], []).extent, [0, 1]);
});

test("focusing a finding before training shows the start of the axis", () => {
  assert.deepEqual(focusStart([-10, 1000], [-10, 1000]), [-10, 192]);
  assert.deepEqual(focusStart([300, 400], [-10, 1000]), [-10, 90]);
});

test("rankLabel names a non-zero torch.distributed rank and stays silent for rank 0", () => {
  assert.equal(rankLabel(0), null);
  assert.equal(rankLabel(1), "rank 1");
});
