// Pure logic of the charts (no DOM): curves on one step axis, NaN/Inf bands, event markers, ranges.
import type { Curve, NonFinite, Severity } from "./api";
import { isBeforeTraining, plural, SEVERITY_RANK, type EventRow, type Range } from "./model";

/** Curves on one shared, sorted step axis, as uPlot wants them. */
export interface AlignedCurves {
  steps: number[];
  /** One array per curve: null is a non-finite value (a gap), undefined a step the curve lacks. */
  series: (number | null | undefined)[][];
  /** One array per curve: the non-finite value where `series` has null ("nan", "inf", "-inf"). */
  nonfinite: (NonFinite | undefined)[][];
}

/** Puts curves logged at different steps on one step axis. */
export function alignCurves(curves: Curve[]): AlignedCurves {
  const steps = [...new Set(curves.flatMap((c) => c.steps))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const series = curves.map(() => new Array<number | null | undefined>(steps.length).fill(undefined));
  const nonfinite = curves.map(() => new Array<NonFinite | undefined>(steps.length).fill(undefined));
  curves.forEach((c, k) =>
    c.steps.forEach((s, i) => {
      const at = index.get(s) as number;
      const v = c.values[i];
      series[k][at] = typeof v === "number" ? v : null;
      if (typeof v !== "number") nonfinite[k][at] = v;
    }),
  );
  return { steps, series, nonfinite };
}

/** A stretch of consecutive non-finite values of one or more curves: drawn as a shaded band. */
export interface NonFiniteBand {
  /** The first and the last non-finite step of the stretch. */
  start: number;
  end: number;
  /** Non-finite values in it, over all curves, and which kinds. */
  count: number;
  kinds: Set<NonFinite>;
  tags: string[];
}

/** The stretches where curves were NaN/Inf: each curve's runs of consecutive non-finite points,
 * overlapping ones of different curves merged; sorted by start. */
export function nonFiniteBands(curves: Curve[]): NonFiniteBand[] {
  const stretches: NonFiniteBand[] = [];
  for (const c of curves) {
    let open: NonFiniteBand | null = null;
    c.values.forEach((v, i) => {
      if (typeof v === "number") {
        open = null;
        return;
      }
      if (!open) stretches.push((open = { start: c.steps[i], end: c.steps[i], count: 0, kinds: new Set(), tags: [c.tag] }));
      open.end = c.steps[i];
      open.count += 1;
      open.kinds.add(v);
    });
  }
  stretches.sort((a, b) => a.start - b.start);
  const bands: NonFiniteBand[] = [];
  for (const s of stretches) {
    const last = bands[bands.length - 1];
    if (last && s.start <= last.end) {
      last.end = Math.max(last.end, s.end);
      last.count += s.count;
      s.kinds.forEach((k) => last.kinds.add(k));
      last.tags.push(...s.tags.filter((t) => !last.tags.includes(t)));
    } else bands.push(s);
  }
  return bands;
}

/** "NaN: 123 values", "Inf: 1 value", "NaN/Inf: 37 values in 2 curves". */
export function bandLabel(band: NonFiniteBand): string {
  const nan = band.kinds.has("nan");
  const inf = band.kinds.has("inf") || band.kinds.has("-inf");
  const curves = band.tags.length > 1 ? ` in ${band.tags.length} curves` : "";
  return `${nan && inf ? "NaN/Inf" : nan ? "NaN" : "Inf"}: ${plural(band.count, "value")}${curves}`;
}

/** The width of a focused view: the current width when zoomed in, else a fifth of the data. */
function focusWidth(current: Range, extent: Range): number {
  const full = Math.max(extent[1] - extent[0], 1);
  const width = current[1] - current[0];
  return width < full * 0.9 ? width : Math.max(full / 5, 10);
}

/** The x-range centred on `step`: the current width when zoomed in, else a fifth of the data. */
export function focusRange(step: number, current: Range, extent: Range): Range {
  const half = focusWidth(current, extent) / 2;
  return [step - half, step + half];
}

/** The x-range that starts at the start of the axis, where the findings before training are. */
export function focusStart(current: Range, extent: Range): Range {
  return [extent[0], extent[0] + focusWidth(current, extent)];
}

/** The events of one step, drawn as one marker in the colour of the worst; `x` is where it is drawn. */
export interface Marker {
  x: number;
  step: number;
  /** The findings before training: one marker left of the first step, labelled `label`. */
  before: boolean;
  label: string;
  severity: Severity;
  rows: EventRow[];
}

export interface MarkerLayout {
  /** Sorted by x. */
  markers: Marker[];
  /** The x-range holding every curve point and every marker, with a little room at both ends. */
  extent: Range;
}

/** Markers for `rows` over curves logged at `steps` (sorted): findings before training are never
 * dropped, they get a marker of their own just left of the first step. */
export function placeMarkers(rows: EventRow[], steps: number[]): MarkerLayout {
  const byKey = new Map<string, Marker>();
  for (const row of rows) {
    const before = isBeforeTraining(row.step);
    const key = before ? "before" : String(row.step);
    const m = byKey.get(key);
    if (!m) byKey.set(key, { x: row.step, step: row.step, before, label: "", severity: row.severity, rows: [row] });
    else {
      m.rows.push(row);
      if (SEVERITY_RANK[row.severity] > SEVERITY_RANK[m.severity]) m.severity = row.severity;
    }
  }
  const markers = [...byKey.values()];
  let first = steps.length ? steps[0] : Infinity;
  let last = steps.length ? steps[steps.length - 1] : -Infinity;
  for (const m of markers) {
    if (m.before) continue;
    first = Math.min(first, m.x);
    last = Math.max(last, m.x);
  }
  const empty = !Number.isFinite(first);
  if (empty) [first, last] = [0, 0];
  const before = byKey.get("before");
  if (before) {
    // Far enough left of the first step to be told apart from a marker there (~3% of the axis).
    before.x = first - Math.max((last - first) * 0.03, 1);
    before.label = before.rows.every((r) => r.category === "data") ? "data" : "before training";
  }
  markers.sort((a, b) => a.x - b.x);
  const min = before ? before.x : first;
  if (empty && !before) return { markers, extent: [0, 1] };
  // A little room at both ends, so that a marker at the first or last step is drawn whole.
  const pad = Math.max((last - min) * 0.015, 0.5);
  return { markers, extent: [min - pad, last + pad] };
}

/** `range` scaled by `factor` around `anchor` (factor < 1 zooms in), never narrower than one step. */
export function zoomRange(range: Range, anchor: number, factor: number): Range {
  const width = Math.max((range[1] - range[0]) * factor, 1);
  const ratio = (anchor - range[0]) / (range[1] - range[0] || 1);
  const min = anchor - width * ratio;
  return [min, min + width];
}

/** Index of the sorted step nearest to `step`, or -1 for an empty list. */
export function nearestIndex(sortedSteps: ArrayLike<number>, step: number): number {
  let lo = 0;
  let hi = sortedSteps.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sortedSteps[mid] < step) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && step - sortedSteps[lo - 1] <= sortedSteps[lo] - step) return lo - 1;
  return lo;
}
