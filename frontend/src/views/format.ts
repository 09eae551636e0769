// Small pieces shared by the tooltip, the event list and the run overview.
import type { Severity } from "../api";
import { categoryBadge, formatValue, type EventRow } from "../model";
import { h } from "./dom";

const SEVERITY_LABEL: Record<Severity, string> = { error: "Error", warning: "Warning", info: "Info" };

/** A coloured severity label, e.g. "Error". */
export function severityPill(severity: Severity): HTMLElement {
  return h("span", { class: `ld-pill ld-sev-${severity}` }, SEVERITY_LABEL[severity]);
}

/** The label of a condition that ended, in place of its severity, e.g. "ended · steps 40–90". */
export function endedPill(text: string): HTMLElement {
  return h("span", { class: "ld-pill ld-ended", title: "This condition ended: it no longer stands" }, text);
}

/** A badge telling data and model findings from curve ones, e.g. "data"; null for none. */
export function categoryPill(category: string): HTMLElement | null {
  const text = categoryBadge(category);
  return text ? h("span", { class: `ld-badge ld-badge-${text}`, title: `${text} finding` }, text) : null;
}

/** The last item of a paged list: a button showing `page` more of the `more` not shown; null when none. */
export function showMore(more: number, page: number, onClick: () => void): HTMLElement | null {
  if (more <= 0) return null;
  return h(
    "li",
    { class: "ld-more" },
    h("button", { class: "ld-button", on: { click: onClick } }, `Show ${Math.min(page, more)} more (${more.toLocaleString("en-US")} not shown yet)`),
  );
}

/** The evidence as "name = value" chips. */
export function evidenceChips(evidence: EventRow["evidence"]): HTMLElement | null {
  const entries = Object.entries(evidence);
  if (!entries.length) return null;
  return h(
    "div",
    { class: "ld-evidence" },
    ...entries.map(([k, v]) => h("span", { class: "ld-chip" }, h("span", { class: "ld-chip-k" }, k), ` ${formatValue(v)}`)),
  );
}

/** Severity, kind, tag and message of one event: what the chart's tooltip shows. */
export function eventSummary(row: EventRow): HTMLElement {
  return h(
    "div",
    { class: "ld-tip-event" },
    h("div", { class: "ld-tip-head" }, severityPill(row.severity), categoryPill(row.category), h("span", { class: "ld-kind" }, row.kind), h("span", { class: "ld-tag" }, row.tag)),
    h("div", { class: "ld-tip-msg" }, row.message),
    row.hint ? h("div", { class: "ld-tip-hint" }, h("b", {}, "Fix: "), row.hint) : null,
  );
}
