// Unit tests of the charts' pure logic (src/axis.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { alignCurves, bandLabel, focusRange, focusStart, nearestIndex, nonFiniteBands, placeMarkers, zoomRange } from "../src/axis";
import { dataEv, ev, toRows } from "./helpers";

test("curves logged at different steps share one axis; NaN is a gap (null) that remembers its value, a missing step undefined", () => {
  const aligned = alignCurves([
    { tag: "train", steps: [0, 1, 2], values: [3, "nan", 1] },
    { tag: "val", steps: [0, 2, 4], values: [4, 2, "-inf"] },
  ]);
  assert.deepEqual(aligned.steps, [0, 1, 2, 4]);
  assert.deepEqual(aligned.series[0], [3, null, 1, undefined]);
  assert.deepEqual(aligned.series[1], [4, undefined, 2, null]);
  assert.deepEqual(aligned.nonfinite[0], [undefined, "nan", undefined, undefined]);
  assert.deepEqual(aligned.nonfinite[1], [undefined, undefined, undefined, "-inf"]);
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


test("a NaN stretch is one band from its first to its last non-finite step, with its count", () => {
  const steps = [0, 1, 2, 3, 4, 5, 6];
  const [band] = nonFiniteBands([{ tag: "loss", steps, values: [1, 0.5, "nan", "nan", "nan", "nan", "nan"] }]);
  assert.deepEqual([band.start, band.end, band.count], [2, 6, 5]);
  assert.equal(bandLabel(band), "NaN: 5 values");
});

test("separate stretches are separate bands; overlapping ones of two curves are one", () => {
  const bands = nonFiniteBands([
    { tag: "train", steps: [0, 1, 2, 3, 4, 5], values: [1, "inf", 1, "nan", "nan", 1] },
    { tag: "val", steps: [0, 4], values: [1, "-inf"] },
  ]);
  assert.deepEqual(bands.map((b) => [b.start, b.end, b.count]), [[1, 1, 1], [3, 4, 3]]);
  assert.equal(bandLabel(bands[0]), "Inf: 1 value");
  assert.equal(bandLabel(bands[1]), "NaN/Inf: 3 values in 2 curves");
  assert.deepEqual(nonFiniteBands([{ tag: "ok", steps: [0, 1], values: [1, 2] }]), []);
});
