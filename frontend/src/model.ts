// Pure logic of the tab (no DOM): run health, diagnoses, persistent conditions, filters, chart ranges.
import { type DiagEvent, type EventBrief, type EventsResponse, type RunSummary, type Severity } from "./api";

/** An event with the run it belongs to, an id unique within the page, and its place in a diagnosis. */
export interface EventRow extends DiagEvent {
  id: string;
  run: string;
  /** The root cause of the diagnosis explaining this event (the row itself for a root); null when none. */
  root: EventRow | null;
  /** The "ended" info event whose span covers this warning or error; null while it stands. */
  endedBy: EventRow | null;
}

/** One diagnosis, its events as rows of the run. */
export interface DiagnosisView {
  root: EventRow;
  consequences: EventRow[];
  confidence: string;
  fix: string;
  /** The consequences in words, in the order the diagnosis names them ("`loss/train` NaN at step 37"). */
  chain: string[];
}

export interface RunEvents {
  rows: EventRow[];
  /** Most serious first. */
  diagnoses: DiagnosisView[];
}

const CHAIN_SEPARATOR = " -> ";

/** The links of a diagnosis summary after its root's: "root -> a -> b. Fix: f" gives ["a", "b"]. */
export function chainLinks(summary: string, fix: string): string[] {
  const suffix = `. Fix: ${fix}`;
  const chain = summary.endsWith(suffix) ? summary.slice(0, -suffix.length) : summary;
  return chain.split(CHAIN_SEPARATOR).slice(1);
}

/** One run's events as rows, linked to their diagnoses and to the events that ended them; ids are
 * stable across reloads as long as earlier events stay. */
export function readEvents(run: string, body: EventsResponse): RunEvents {
  const rows: EventRow[] = body.events.map((e, i) => ({ ...e, run, id: `${run}\u0000${i}`, root: null, endedBy: null }));
  for (const [i, j] of body.ended) if (rows[i] && rows[j]) rows[i].endedBy = rows[j];
  const diagnoses: DiagnosisView[] = [];
  for (const d of body.diagnosis) {
    const root = rows[d.root_index];
    if (!root) continue;
    const consequences = d.consequence_indices.map((i) => rows[i]).filter((r): r is EventRow => r !== undefined);
    for (const row of [root, ...consequences]) row.root = root;
    diagnoses.push({ root, consequences, confidence: d.confidence, fix: d.fix, chain: chainLinks(d.summary, d.fix) });
  }
  return { rows, diagnoses };
}

/** Whether a diagnosed run lacks watch()'s model checks: no activation or input statistic logged. */
export function lacksModelChecks(run: RunSummary): boolean {
  return run.diagnosed && !run.stat_tags.some((t) => t.startsWith("diag/act_") || t.startsWith("diag/input_"));
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

/** A persistent condition: the events of one run, kind and tag (its onset and reminders) within one
 * diagnosis (or outside any). */
export interface Condition {
  key: string;
  run: string;
  kind: string;
  tag: string;
  severity: Severity;
  first: EventRow;
  last: EventRow;
  events: EventRow[];
  /** The root cause of its diagnosis; null outside any diagnosis. */
  root: EventRow | null;
  /** The steps its condition lasted, when every warning and error of it has ended; else null. */
  ended: Range | null;
}

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

/** Events grouped into conditions (same run, diagnosis, kind and tag), ordered by their first step. */
export function groupConditions(rows: EventRow[]): Condition[] {
  const groups = new Map<string, Condition>();
  for (const row of sortByStep(rows)) {
    const key = JSON.stringify([row.run, row.root?.id ?? null, row.kind, row.tag]);
    const group = groups.get(key);
    if (!group) {
      groups.set(key, { key, run: row.run, kind: row.kind, tag: row.tag, severity: row.severity, first: row, last: row, events: [row], root: row.root, ended: null });
      continue;
    }
    group.events.push(row);
    group.last = row;
    if (SEVERITY_RANK[row.severity] > SEVERITY_RANK[group.severity]) group.severity = row.severity;
  }
  const conditions = [...groups.values()];
  for (const c of conditions) c.ended = endedSpan(c.events);
  return conditions;
}

/** The span an "ended" event gives (evidence start_step, end_step), or null when it gives none. */
export function spanOf(ender: EventRow): Range | null {
  const { start_step: start, end_step: end } = ender.evidence;
  return typeof start === "number" && typeof end === "number" ? [start, end] : null;
}

/** The steps covered by the events that ended every warning and error of `events`; null when one still stands. */
function endedSpan(events: EventRow[]): Range | null {
  const flagged = events.filter((e) => e.severity !== "info");
  const spans = flagged.map((e) => (e.endedBy ? spanOf(e.endedBy) : null));
  if (!flagged.length || spans.some((s) => s === null)) return null;
  const known = spans as Range[];
  return [Math.min(...known.map((s) => s[0])), Math.max(...known.map((s) => s[1]))];
}

/** A condition of the grouped list, with the conditions its root cause explains nested under it. */
export interface ConditionItem {
  condition: Condition;
  consequences: Condition[];
  /** For a consequence shown on its own (its root's condition filtered out): that root; else null. */
  cause: EventRow | null;
}

/** The grouped list: each root cause's condition with its consequences under it, the rest on their own,
 * ordered by first step. */
export function arrangeConditions(conditions: Condition[]): ConditionItem[] {
  const items: ConditionItem[] = [];
  const rootItems = new Map<EventRow, ConditionItem>();
  for (const c of conditions) {
    if (c.root && c.events.includes(c.root)) {
      const item = { condition: c, consequences: [], cause: null };
      rootItems.set(c.root, item);
      items.push(item);
    }
  }
  for (const c of conditions) {
    if (c.root && c.events.includes(c.root)) continue;
    const owner = c.root ? rootItems.get(c.root) : undefined;
    if (owner) owner.consequences.push(c);
    else items.push({ condition: c, consequences: [], cause: c.root });
  }
  return items.sort((a, b) => a.condition.first.step - b.condition.first.step || a.condition.first.wall_time - b.condition.first.wall_time);
}

/** "ended · steps 40–90" for a condition that ended; the span its ending event gave. */
export function endedLabel(span: Range): string {
  return `ended · steps ${formatStep(span[0])}–${formatStep(span[1])}`;
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


export type Range = [number, number];

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
