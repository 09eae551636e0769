// Pure logic of the tab (no DOM): run health, persistent conditions, filters, chart ranges.
import { type Curve, type DiagEvent, type EventBrief, type RunSummary, type Severity } from "./api";

/** An event with the run it belongs to and an id unique within the page. */
export interface EventRow extends DiagEvent {
  id: string;
  run: string;
}

/** Rows of one run's events; ids are stable across reloads as long as earlier events stay. */
export function toRows(run: string, events: DiagEvent[]): EventRow[] {
  return events.map((e, i) => ({ ...e, run, id: `${run}\u0000${i}` }));
}

export type Health = "error" | "warning" | "healthy" | "undiagnosed";

/** A run's health: its worst severity, "healthy" when diagnosed with only info events. */
export function runHealth(run: RunSummary): Health {
  if (!run.diagnosed) return "undiagnosed";
  if (run.counts.error > 0) return "error";
  if (run.counts.warning > 0) return "warning";
  return "healthy";
}

const HEALTH_ORDER: Record<Health, number> = { error: 0, warning: 1, healthy: 2, undiagnosed: 3 };

/** Runs needing attention first (earliest first problem first), then healthy, then undiagnosed. */
export function sortRuns(runs: RunSummary[]): RunSummary[] {
  const firstProblem = (r: RunSummary) => (r.first_error ?? r.first_event)?.step ?? Infinity;
  return [...runs].sort(
    (a, b) =>
      HEALTH_ORDER[runHealth(a)] - HEALTH_ORDER[runHealth(b)] ||
      firstProblem(a) - firstProblem(b) ||
      a.run.localeCompare(b.run),
  );
}

/** Runs whose name contains `text` (case-insensitive). */
export function filterRuns(runs: RunSummary[], text: string): RunSummary[] {
  const needle = text.trim().toLowerCase();
  return needle ? runs.filter((r) => r.run.toLowerCase().includes(needle)) : runs;
}

export type HealthCounts = Record<Health, number>;

/** How many runs are in each health state. */
export function healthCounts(runs: RunSummary[]): HealthCounts {
  const counts: HealthCounts = { error: 0, warning: 0, healthy: 0, undiagnosed: 0 };
  for (const r of runs) counts[runHealth(r)] += 1;
  return counts;
}

/** The one-line summary of the header, e.g. "3 runs · 2 with errors · 1 healthy". */
export function overviewLine(runs: RunSummary[]): string {
  const c = healthCounts(runs);
  const parts = [plural(runs.length, "run")];
  if (c.error) parts.push(`${c.error} with errors`);
  if (c.warning) parts.push(`${c.warning} with warnings`);
  if (c.healthy) parts.push(`${c.healthy} healthy`);
  if (c.undiagnosed) parts.push(`${c.undiagnosed} not diagnosed`);
  return parts.join(" · ");
}

/** The runs selected when the page opens: those needing attention (at most `max`), else the first. */
export function defaultSelection(sorted: RunSummary[], max = 3): string[] {
  const problems = sorted.filter((r) => r.counts.error + r.counts.warning > 0).slice(0, max);
  return (problems.length ? problems : sorted.slice(0, 1)).map((r) => r.run);
}

/** Keeps the selection of runs that still exist; falls back to the default when none is left. */
export function keepSelection(selected: string[], sorted: RunSummary[]): string[] {
  const names = new Set(sorted.map((r) => r.run));
  const kept = selected.filter((s) => names.has(s));
  return kept.length ? kept : defaultSelection(sorted);
}

/** The empty state when no diagnosed run has an event: what was checked, in words; else null. */
export function allClearMessage(runs: RunSummary[], detectors: string[]): string | null {
  const diagnosed = runs.filter((r) => r.diagnosed);
  if (!diagnosed.length || diagnosed.some((r) => r.counts.error + r.counts.warning + r.counts.info > 0)) {
    return null;
  }
  const tags = [...new Set(diagnosed.flatMap((r) => r.loss_tags))].sort();
  const checked = [
    tags.length ? `${plural(tags.length, "loss curve")} (${tags.join(", ")})` : "",
    detectors.length ? `with ${detectorList(detectors)}` : "",
  ].filter(Boolean);
  return `No anomalies found in ${plural(diagnosed.length, "run")}; checked: ${checked.join(" ") || "every record"}.`;
}

/** "nonfinite_loss, spike", or "22 detectors (nonfinite_loss, …, loss_spike and 18 more)". */
export function detectorList(detectors: string[], shown = 4): string {
  if (detectors.length <= shown) return detectors.join(", ");
  return `${detectors.length} detectors (${detectors.slice(0, shown).join(", ")} and ${detectors.length - shown} more)`;
}

/** A persistent condition: the events of one run, kind and tag (its onset and reminders). */
export interface Condition {
  key: string;
  run: string;
  kind: string;
  tag: string;
  severity: Severity;
  first: EventRow;
  last: EventRow;
  events: EventRow[];
}

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

/** Events grouped into conditions (same run, kind and tag), ordered by their first step. */
export function groupConditions(rows: EventRow[]): Condition[] {
  const groups = new Map<string, Condition>();
  for (const row of sortByStep(rows)) {
    const key = JSON.stringify([row.run, row.kind, row.tag]);
    const group = groups.get(key);
    if (!group) {
      groups.set(key, { key, run: row.run, kind: row.kind, tag: row.tag, severity: row.severity, first: row, last: row, events: [row] });
      continue;
    }
    group.events.push(row);
    group.last = row;
    if (SEVERITY_RANK[row.severity] > SEVERITY_RANK[group.severity]) group.severity = row.severity;
  }
  return [...groups.values()];
}

/** "rank 1" for an event from a non-zero torch.distributed rank; null for rank 0 (and single-process runs). */
export function rankLabel(rank: number): string | null {
  return rank ? `rank ${rank}` : null;
}

/** A data check run before the first step writes step -1: no step is negative otherwise. */
export function isBeforeTraining(step: number): boolean {
  return step < 0;
}

/** "step 37", or "before training" for a data check's finding made before the first step. */
export function whenLabel(step: number): string {
  return isBeforeTraining(step) ? "before training" : `step ${formatStep(step)}`;
}

/** "step 37", "steps 37–437 · 3 reports", "before training–step 500 · 2 reports". */
export function spanLabel(c: Condition): string {
  if (c.events.length === 1) return whenLabel(c.first.step);
  const reports = `${c.events.length} reports`;
  const [first, last] = [c.first.step, c.last.step];
  if (isBeforeTraining(last)) return `before training · ${reports}`;
  if (isBeforeTraining(first)) return `before training–${whenLabel(last)} · ${reports}`;
  return `steps ${formatStep(first)}–${formatStep(last)} · ${reports}`;
}

/** What the run overview says of a run's first problem: "step 37: nonfinite_loss", "before training: missing_values". */
export function briefLine(brief: EventBrief): string {
  return `${whenLabel(brief.step)}: ${brief.kind}`;
}

// Curve findings are most events and need no badge; an unknown category from a newer writer gets none.
const CATEGORY_BADGES: Record<string, string> = { data: "data", model: "model" };

/** The badge text of an event's category ("data", "model"), or null for none. */
export function categoryBadge(category: string | undefined): string | null {
  return Object.prototype.hasOwnProperty.call(CATEGORY_BADGES, category ?? "") ? CATEGORY_BADGES[category as string] : null;
}

/** Rows sorted by step, then by the order they were written (stable). */
export function sortByStep(rows: EventRow[]): EventRow[] {
  return [...rows].sort((a, b) => a.step - b.step || a.wall_time - b.wall_time);
}

export interface EventFilter {
  severities: ReadonlySet<Severity>;
  /** "" for every kind. */
  kind: string;
}

/** Rows of a shown severity and of the chosen kind. */
export function filterRows(rows: EventRow[], filter: EventFilter): EventRow[] {
  return rows.filter((r) => filter.severities.has(r.severity) && (!filter.kind || r.kind === filter.kind));
}

/** How many rows have each severity. */
export function countBySeverity(rows: EventRow[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const r of rows) counts[r.severity] += 1;
  return counts;
}

/** The kinds present, sorted. */
export function kindsOf(rows: EventRow[]): string[] {
  return [...new Set(rows.map((r) => r.kind))].sort();
}


/** Curves on one shared, sorted step axis, as uPlot wants them. */
export interface AlignedCurves {
  steps: number[];
  /** One array per curve: null is a non-finite value (a gap), undefined a step the curve lacks. */
  series: (number | null | undefined)[][];
}

/** Puts curves logged at different steps on one step axis. */
export function alignCurves(curves: Curve[]): AlignedCurves {
  const steps = [...new Set(curves.flatMap((c) => c.steps))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const series = curves.map((c) => {
    const values: (number | null | undefined)[] = new Array(steps.length).fill(undefined);
    c.steps.forEach((s, i) => {
      values[index.get(s) as number] = c.values[i];
    });
    return values;
  });
  return { steps, series };
}

export type Range = [number, number];

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

/** Evidence values as people read them: 4 significant digits, non-finite spelled out. */
export function formatValue(value: number | string): string {
  if (typeof value === "string") return value.toLowerCase() === "nan" ? "NaN" : value.replace("inf", "∞");
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? value.toExponential(3) : String(Number(value.toPrecision(4)));
}

/** A step with thousands separators. */
export function formatStep(step: number): string {
  return step.toLocaleString("en-US");
}

/** "1 run", "3 runs". */
export function plural(n: number, noun: string): string {
  return `${n.toLocaleString("en-US")} ${noun}${n === 1 ? "" : "s"}`;
}
