// Types of the plugin's HTTP routes; the written contract is tb_lossdiag/plugin/http_api.md.

export type Severity = "info" | "warning" | "error";

export const SEVERITIES: readonly Severity[] = ["error", "warning", "info"];

/** A short reference to one event (GET /runs: first_error, first_event). */
export interface EventBrief {
  step: number;
  kind: string;
  severity: Severity;
  tag: string;
  /** "curve", "model" or "data" (a data check's finding; step -1 is before training). */
  category: string;
}

/** One run of GET /runs. */
export interface RunSummary {
  run: string;
  /** False for runs with no lossdiag record: written by a plain SummaryWriter. */
  diagnosed: boolean;
  counts: Record<Severity, number>;
  first_error: EventBrief | null;
  first_event: EventBrief | null;
  kinds: string[];
  loss_tags: string[];
  stat_tags: string[];
  last_step: number | null;
  notices: string[];
}

export interface RunsResponse {
  runs: RunSummary[];
  detectors: string[];
  schema_version: number;
}

/** One event of GET /events (Event.to_dict() in tb_lossdiag/events.py). */
export interface DiagEvent {
  step: number;
  kind: string;
  severity: Severity;
  tag: string;
  message: string;
  hint: string;
  /** Non-finite evidence arrives as the strings "nan", "inf", "-inf". */
  evidence: Record<string, number | string>;
  /** "curve", "model" or "data"; anything else from a newer writer is shown without a badge. */
  category: string;
  wall_time: number;
  rank: number;
}

/** One diagnosis of GET /events (tb_lossdiag.diagnosis.Diagnosis.to_dict() plus indices into `events`). */
export interface Diagnosis {
  root: DiagEvent;
  consequences: DiagEvent[];
  /** "certain" (measured, or read off the loss graph) or "likely" (inferred from a curve). */
  confidence: string;
  fix: string;
  /** "root phrase -> consequence -> ... . Fix: <fix>", as `tb-lossdiag report` prints it. */
  summary: string;
  root_index: number;
  consequence_indices: number[];
}

export interface EventsResponse {
  run: string;
  events: DiagEvent[];
  /** One per independent problem, most serious first; empty when no warning or error. */
  diagnosis: Diagnosis[];
  /** [index of a warning or error, index of the "ended" info event whose span covers it]. */
  ended: [number, number][];
  notices: string[];
}

/** How GET /curves and evidence spell a non-finite value (JSON has no NaN). */
export type NonFinite = "nan" | "inf" | "-inf";

/** One downsampled curve of GET /curves. */
export interface Curve {
  tag: string;
  steps: number[];
  values: (number | NonFinite)[];
}

export interface CurvesResponse {
  run: string;
  curves: Curve[];
}

async function getJson<T>(path: string, params: [string, string][] = []): Promise<T> {
  const query = new URLSearchParams(params).toString();
  // Relative to the iframe's <base href="plugin/lossdiag/">: also right under /experiment/<id>/.
  const response = await fetch(query ? `./${path}?${query}` : `./${path}`);
  if (!response.ok) {
    throw new Error(`GET ${path} answered ${response.status} ${response.statusText}`);
  }
  return (await response.json()) as T;
}

export function fetchRuns(): Promise<RunsResponse> {
  return getJson<RunsResponse>("runs");
}

export function fetchEvents(run: string): Promise<EventsResponse> {
  return getJson<EventsResponse>("events", [["run", run]]);
}

/** The run's loss curves when `tags` is empty, else the given scalar tags. */
export function fetchCurves(run: string, tags: string[] = []): Promise<CurvesResponse> {
  return getJson<CurvesResponse>("curves", [["run", run], ...tags.map((t): [string, string] => ["tag", t])]);
}
