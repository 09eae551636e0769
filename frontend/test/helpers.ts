// Events and runs with readable defaults, shared by the unit tests.
import type { DiagEvent, EventsResponse, RunSummary, Severity } from "../src/api";
import { readEvents } from "../src/model";

export function ev(step: number, kind = "nonfinite_loss", severity: Severity = "error", tag = "loss/train", wall_time = step, category = "curve"): DiagEvent {
  return { step, kind, severity, tag, message: `${kind} at ${step}`, hint: "fix it", evidence: {}, category, wall_time, rank: 0 };
}

/** Rows of events that no diagnosis links and nothing ended. */
export function toRows(name: string, events: DiagEvent[]) {
  return readEvents(name, { run: name, events, diagnosis: [], ended: [], notices: [] } satisfies EventsResponse).rows;
}

/** A data check's finding: before training unless a step is given. */
export function dataEv(step = -1, kind = "missing_values", severity: Severity = "error"): DiagEvent {
  return ev(step, kind, severity, "data/age", 0, "data");
}

export function run(name: string, counts: Partial<Record<Severity, number>> = {}, diagnosed = true, firstErrorStep: number | null = null): RunSummary {
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
