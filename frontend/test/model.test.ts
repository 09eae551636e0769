// Unit tests of the tab's pure logic (src/model.ts), run by scripts/test.mjs with node's test runner.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Diagnosis, EventsResponse, Severity } from "../src/api";
import {
  allClearMessage,
  arrangeConditions,
  briefLine,
  categoryBadge,
  chainLinks,
  countBySeverity,
  defaultSelection,
  detectorList,
  filterRows,
  filterRuns,
  formatValue,
  groupConditions,
  keepSelection,
  kindsOf,
  lacksModelChecks,
  overviewLine,
  rankLabel,
  readEvents,
  runHealth,
  sortByStep,
  sortRuns,
  spanLabel,
  whenLabel,
} from "../src/model";
import { dataEv, ev, run, toRows } from "./helpers";

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

test("rankLabel names a non-zero torch.distributed rank and stays silent for rank 0", () => {
  assert.equal(rankLabel(0), null);
  assert.equal(rankLabel(1), "rank 1");
});

/** The NaN-in-data run: the input at 37 explains the loss NaN at 37 and its reminder at 137, and
 * the val loss NaN at 40; a plateau on loss/val (steps 5-20) ended at step 20. */
function nanRun(): EventsResponse {
  const input = { ...ev(37, "nonfinite_input", "error", "input", 1, "model"), message: "the batch at step 37 holds 1 NaN in column 2" };
  const plateau = ev(5, "loss_plateau", "warning", "loss/val");
  const ended = { ...ev(20, "loss_plateau", "info", "loss/val"), evidence: { ended: 1, start_step: 5, end_step: 20 } };
  const events = [plateau, ended, input, ev(37, "nonfinite_loss", "error", "loss/train", 2), ev(40, "nonfinite_loss", "error", "loss/val"), ev(137)];
  const diagnosis: Diagnosis = {
    root: input,
    consequences: [events[3], events[4], events[5]],
    confidence: "certain",
    fix: "Clean the data.",
    summary: "NaN/Inf in the input data (argument `input`, column 2) -> `loss/train` NaN at step 37 -> `loss/val` NaN at step 40. Fix: Clean the data.",
    root_index: 2,
    consequence_indices: [3, 4, 5],
  };
  return { run: "nan", events, diagnosis: [diagnosis], ended: [[0, 1]], notices: [] };
}

test("a diagnosis links its root and consequences to the run's rows, by index", () => {
  const { rows, diagnoses } = readEvents("nan", nanRun());
  const [d] = diagnoses;
  assert.equal(d.root, rows[2]);
  assert.deepEqual(d.consequences, [rows[3], rows[4], rows[5]]);
  assert.deepEqual(rows.map((r) => r.root?.kind ?? null), [null, null, "nonfinite_input", "nonfinite_input", "nonfinite_input", "nonfinite_input"]);
  assert.deepEqual(d.chain, ["`loss/train` NaN at step 37", "`loss/val` NaN at step 40"]);
  assert.equal(d.confidence, "certain");
  assert.equal(rows[0].endedBy, rows[1]);
  assert.equal(rows[2].endedBy, null);
});

test("the chain is the summary's links after the root's, without the fix", () => {
  assert.deepEqual(chainLinks("a -> b -> c. Fix: do x. Then y.", "do x. Then y."), ["b", "c"]);
  assert.deepEqual(chainLinks("only the root. Fix: f", "f"), []);
});

test("consequences are grouped under their root, not listed as findings of their own", () => {
  const items = arrangeConditions(groupConditions(readEvents("nan", nanRun()).rows));
  assert.deepEqual(items.map((i) => i.condition.kind), ["loss_plateau", "nonfinite_input"]);
  const root = items[1];
  assert.deepEqual(root.consequences.map((c) => [c.tag, spanLabel(c)]), [["loss/train", "steps 37–137 · 2 reports"], ["loss/val", "step 40"]]);
});

test("a consequence whose root is filtered out stands alone and names its cause", () => {
  const rows = readEvents("nan", nanRun()).rows.filter((r) => r.kind !== "nonfinite_input");
  const items = arrangeConditions(groupConditions(rows));
  const train = items.find((i) => i.condition.tag === "loss/train" && i.condition.kind === "nonfinite_loss");
  assert.equal(train?.cause?.kind, "nonfinite_input");
  assert.equal(items.find((i) => i.condition.kind === "loss_plateau")?.cause, null);
});

test("a condition whose warnings all ended shows as ended with its span; one still standing does not", () => {
  const conditions = groupConditions(readEvents("nan", nanRun()).rows);
  const plateau = conditions.find((c) => c.kind === "loss_plateau");
  assert.deepEqual(plateau?.ended, [5, 20]);
  assert.equal(conditions.find((c) => c.kind === "nonfinite_input")?.ended, null);
  const standing = nanRun();
  standing.events.push(ev(60, "loss_plateau", "warning", "loss/val")); // it came back after it ended
  assert.equal(groupConditions(readEvents("nan", standing).rows).find((c) => c.kind === "loss_plateau")?.ended, null);
});

test("a diagnosed run without activation or input statistics lacks watch()'s model checks", () => {
  const swapped = { ...run("a"), stat_tags: ["diag/grad_norm"] };
  assert.equal(lacksModelChecks(swapped), true);
  assert.equal(lacksModelChecks({ ...swapped, stat_tags: ["diag/grad_norm", "diag/act_std_min"] }), false);
  assert.equal(lacksModelChecks({ ...swapped, stat_tags: ["diag/input_rms"] }), false);
  assert.equal(lacksModelChecks(run("plain", {}, false)), false); // not diagnosed: another note says so
});
