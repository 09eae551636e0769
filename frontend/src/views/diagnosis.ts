// The diagnosis card at the top of a run: its root cause (kind, step, message), the chain of
// consequences it explains, how sure the diagnosis is, and the one fix.
import { whenLabel, type DiagnosisView, type EventRow } from "../model";
import { h } from "./dom";

const CONFIDENCE_TITLE: Record<string, string> = {
  certain: "Certain: measured in the model, its data or its loss graph",
  likely: "Likely: inferred from the shape of the loss curve",
};

/** `text` with its `backquoted` names set in code font: phrases name tags and arguments that way. */
export function withCode(text: string): (HTMLElement | string)[] {
  return text.split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part));
}

/** One diagnosis; `index` 0 is the run's most serious problem. A click on its step picks the root event. */
export function diagnosisCard(d: DiagnosisView, index: number, onPick: (row: EventRow) => void): HTMLElement {
  const root = d.root;
  const links = d.chain.flatMap((link) => [h("span", { class: "ld-arrow" }, "→"), h("span", { class: "ld-link" }, ...withCode(link))]);
  return h(
    "div",
    { class: `ld-diagnosis ld-sev-${root.severity}`, data: { kind: root.kind, step: String(root.step), confidence: d.confidence } },
    h(
      "div",
      { class: "ld-diagnosis-head" },
      h("span", { class: "ld-diagnosis-label" }, index === 0 ? "Root cause" : "Also"),
      h("span", { class: "ld-kind" }, root.kind),
      h("button", { class: "ld-linkbutton", title: "Show it on the chart and in the events", on: { click: () => onPick(root) } }, whenLabel(root.step)),
      h("span", { class: `ld-confidence ld-confidence-${d.confidence}`, title: CONFIDENCE_TITLE[d.confidence] ?? "" }, d.confidence),
    ),
    h("div", { class: "ld-diagnosis-msg" }, root.message),
    links.length ? h("div", { class: "ld-chain", title: `${d.consequences.length} events explained` }, ...links) : null,
    d.fix ? h("div", { class: "ld-hint" }, h("span", { class: "ld-hint-label" }, "Fix"), h("span", {}, d.fix)) : null,
  );
}
