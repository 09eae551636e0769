// The event list: filter by severity and kind, persistent conditions grouped or every event by step.
import { SEVERITIES, type Severity } from "../api";
import {
  arrangeConditions,
  countBySeverity,
  endedLabel,
  filterRows,
  groupConditions,
  kindsOf,
  plural,
  rankLabel,
  sortByStep,
  spanLabel,
  spanOf,
  whenLabel,
  type Condition,
  type ConditionItem,
  type EventRow,
  type Range,
} from "../model";
import { h, setChildren } from "./dom";
import { categoryPill, endedPill, evidenceChips, severityPill, showMore } from "./format";

const PAGE = 200;
type Mode = "grouped" | "steps";

export class EventList {
  readonly root: HTMLElement;
  private readonly toolbar: HTMLElement;
  private readonly list: HTMLElement;
  private readonly sub: HTMLElement;
  private readonly modes = h("div", { class: "ld-segs" });
  private rows: EventRow[] = [];
  private multiRun = false;
  private severities = new Set<Severity>(SEVERITIES);
  private kind = "";
  private mode: Mode = "grouped";
  private limit = PAGE;
  private selectedId: string | null = null;
  private emptyText = "";

  constructor(private readonly onPick: (row: EventRow) => void) {
    this.toolbar = h("div", { class: "ld-toolbar" });
    this.list = h("ol", { class: "ld-events" });
    this.sub = h("span", { class: "ld-card-sub" });
    this.root = h(
      "section",
      { class: "ld-card ld-events-card" },
      h("div", { class: "ld-card-head" }, h("h2", {}, "Events"), this.sub, this.modes),
      this.toolbar,
      this.list,
    );
  }

  /** Shows the events of the selected runs; `multiRun` adds the run name to each row. */
  update(rows: EventRow[], multiRun: boolean, emptyText: string): void {
    this.rows = rows;
    this.multiRun = multiRun;
    this.emptyText = emptyText;
    if (this.kind && !rows.some((r) => r.kind === this.kind)) this.kind = "";
    this.draw();
  }

  /** Marks the row of `id` as selected and scrolls it into view. */
  select(id: string | null): void {
    this.selectedId = id;
    for (const el of this.list.querySelectorAll<HTMLElement>(".ld-event")) {
      const on = (el.dataset.ids ?? "").split(" ").includes(id ?? "");
      el.classList.toggle("ld-selected", on);
      if (on) el.scrollIntoView({ block: "nearest" });
    }
  }

  private draw(): void {
    this.drawToolbar();
    const shown = filterRows(this.rows, { severities: this.severities, kind: this.kind });
    const conditions = groupConditions(shown);
    const items = this.mode === "grouped" ? arrangeConditions(conditions) : sortByStep(shown);
    this.sub.textContent =
      this.mode === "grouped"
        ? `${plural(shown.length, "event")} in ${plural(conditions.length, "condition")}`
        : plural(shown.length, "event");
    if (!this.rows.length) {
      setChildren(this.list, h("li", { class: "ld-empty" }, this.emptyText));
      return;
    }
    if (!shown.length) {
      setChildren(this.list, h("li", { class: "ld-empty" }, "No event matches these filters."));
      return;
    }
    const page = items.slice(0, this.limit);
    const more = items.length - page.length;
    setChildren(
      this.list,
      ...page.map((item) => ("condition" in item ? this.itemRow(item) : this.eventRow(item))),
      showMore(more, PAGE, () => ((this.limit += PAGE), this.draw())),
    );
    this.select(this.selectedId);
  }

  private drawToolbar(): void {
    const counts = countBySeverity(this.rows);
    const chips = SEVERITIES.map((s) =>
      h(
        "button",
        {
          class: `ld-filter ld-sev-${s}${this.severities.has(s) ? " ld-on" : ""}`,
          attrs: { "aria-pressed": String(this.severities.has(s)) },
          data: { severity: s },
          on: {
            click: () => {
              if (this.severities.has(s)) this.severities.delete(s);
              else this.severities.add(s);
              this.limit = PAGE;
              this.draw();
            },
          },
        },
        h("span", { class: "ld-dot" }),
        `${s[0].toUpperCase()}${s.slice(1)} ${counts[s].toLocaleString("en-US")}`,
      ),
    );
    const kinds = h(
      "select",
      {
        class: "ld-select",
        attrs: { "aria-label": "Kind" },
        on: {
          change: () => {
            this.kind = kinds.value;
            this.limit = PAGE;
            this.draw();
          },
        },
      },
      h("option", { attrs: { value: "" } }, "All kinds"),
      ...kindsOf(this.rows).map((k) => h("option", { attrs: { value: k } }, k)),
    );
    kinds.value = this.kind;
    const modes = (["grouped", "steps"] as const).map((m) =>
      h(
        "button",
        {
          class: `ld-seg${this.mode === m ? " ld-on" : ""}`,
          attrs: { "aria-pressed": String(this.mode === m) },
          on: { click: () => ((this.mode = m), (this.limit = PAGE), this.draw()) },
        },
        m === "grouped" ? "Grouped" : "By step",
      ),
    );
    setChildren(this.toolbar, h("div", { class: "ld-filters" }, ...chips), kinds);
    setChildren(this.modes, ...modes);
  }

  private eventRow(row: EventRow): HTMLElement {
    const span = row.endedBy ? spanOf(row.endedBy) : null;
    const cause = row.root && row.root !== row ? row.root : null;
    return this.rowElement(row, [row], whenLabel(row.step), row.severity, span, cause);
  }

  /** A condition; a root cause's with the conditions it explains nested under it, compact. */
  private itemRow(item: ConditionItem): HTMLElement {
    const c = item.condition;
    const el = this.rowElement(c.first, c.events, spanLabel(c), c.severity, c.ended, item.cause);
    if (item.consequences.length) {
      el.classList.add("ld-root-cause");
      el.append(
        h(
          "ol",
          { class: "ld-consequences", attrs: { "aria-label": "What it explains" } },
          ...item.consequences.map((k) => this.consequenceRow(k)),
        ),
      );
    }
    return el;
  }

  private consequenceRow(c: Condition): HTMLElement {
    const row = c.first;
    return h(
      "li",
      {
        class: `ld-event ld-consequence ld-sev-${c.severity}`,
        title: row.message,
        data: { ids: c.events.map((r) => r.id).join(" "), step: String(row.step), kind: row.kind, run: row.run, category: row.category },
        attrs: { tabindex: "0" },
        on: {
          click: (e) => (e.stopPropagation(), this.onPick(row)),
          keydown: (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), e.stopPropagation(), this.onPick(row)),
        },
      },
      h("span", { class: "ld-arrow" }, "↳"),
      h("span", { class: "ld-kind" }, row.kind),
      h("span", { class: "ld-tag", title: "tag" }, row.tag),
      c.ended ? endedPill(endedLabel(c.ended)) : null,
      h("span", { class: "ld-when" }, spanLabel(c)),
    );
  }

  private rowElement(row: EventRow, all: EventRow[], when: string, severity: Severity, ended: Range | null, cause: EventRow | null): HTMLElement {
    const rank = rankLabel(row.rank);
    return h(
      "li",
      {
        class: `ld-event ld-sev-${ended ? "ended" : severity}${cause ? " ld-explained" : ""}`,
        data: { ids: all.map((r) => r.id).join(" "), step: String(row.step), kind: row.kind, run: row.run, category: row.category },
        attrs: { tabindex: "0" },
        on: {
          click: () => this.onPick(row),
          keydown: (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), this.onPick(row)),
        },
      },
      h(
        "div",
        { class: "ld-event-head" },
        ended ? endedPill(endedLabel(ended)) : severityPill(severity),
        categoryPill(row.category),
        h("span", { class: "ld-kind" }, row.kind),
        h("span", { class: "ld-tag", title: "tag" }, row.tag),
        rank ? h("span", { class: "ld-rank", title: "torch.distributed rank" }, rank) : null,
        this.multiRun ? h("span", { class: "ld-run-ref", title: "run" }, row.run) : null,
        h("span", { class: "ld-when" }, when),
      ),
      cause ? h("div", { class: "ld-cause" }, `↳ explained by ${cause.kind} at ${whenLabel(cause.step)}`) : null,
      h("div", { class: "ld-msg" }, row.message),
      row.hint && !cause ? h("div", { class: "ld-hint" }, h("span", { class: "ld-hint-label" }, "Fix"), h("span", {}, row.hint)) : null,
      evidenceChips(row.evidence),
    );
  }
}
