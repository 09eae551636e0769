// The run overview: every run with its health, counts by severity and first problem.
import type { RunSummary } from "../api";
import { briefLine, filterRuns, plural, runHealth, type Health } from "../model";
import { h, setChildren } from "./dom";
import { categoryPill, showMore } from "./format";

// Rows drawn at once: thousands of runs stay quick to draw and to scroll; the filter finds the rest.
const PAGE = 200;

const HEALTH_TEXT: Record<Health, string> = {
  error: "Errors",
  warning: "Warnings",
  healthy: "Healthy",
  undiagnosed: "Not diagnosed",
};

/** What a run row says under its name. */
function statusLine(run: RunSummary): string {
  const first = run.first_error ?? run.first_event;
  switch (runHealth(run)) {
    case "undiagnosed":
      return "Plain SummaryWriter run: not diagnosed while training";
    case "healthy":
      return run.counts.info ? `Healthy · ${plural(run.counts.info, "note")}` : "Healthy · no findings";
    default:
      return first ? briefLine(first) : "";
  }
}

export class RunList {
  readonly root: HTMLElement;
  private readonly list: HTMLElement;
  private readonly count: HTMLElement;
  private filter = "";
  private limit = PAGE;
  private runs: RunSummary[] = [];
  private selected = new Set<string>();

  constructor(private readonly onSelect: (runs: string[]) => void) {
    const input = h("input", {
      class: "ld-input",
      attrs: { type: "search", placeholder: "Filter runs", "aria-label": "Filter runs" },
      on: {
        input: () => {
          this.filter = input.value;
          this.limit = PAGE;
          this.draw();
        },
      },
    });
    this.list = h("ul", { class: "ld-runs", attrs: { role: "listbox", "aria-multiselectable": "true" } });
    this.count = h("span", { class: "ld-card-sub" });
    this.root = h(
      "section",
      { class: "ld-card ld-runs-card" },
      h("div", { class: "ld-card-head" }, h("h2", {}, "Runs"), this.count),
      h("div", { class: "ld-runs-filter" }, input),
      this.list,
    );
  }

  /** Shows `runs` (already sorted) with `selected` ticked. */
  update(runs: RunSummary[], selected: string[]): void {
    this.runs = runs;
    this.selected = new Set(selected);
    this.draw();
  }

  private draw(): void {
    const shown = filterRuns(this.runs, this.filter);
    this.count.textContent = shown.length === this.runs.length ? plural(this.runs.length, "run") : `${shown.length} of ${this.runs.length}`;
    const more = shown.length - this.limit;
    setChildren(
      this.list,
      ...shown.slice(0, this.limit).map((run) => this.row(run)),
      showMore(more, PAGE, () => ((this.limit += PAGE), this.draw())),
    );
  }

  private row(run: RunSummary): HTMLElement {
    const health = runHealth(run);
    const selected = this.selected.has(run.run);
    const toggle = (only: boolean) => {
      const next = only ? new Set([run.run]) : new Set(this.selected);
      if (!only) {
        if (next.has(run.run) && next.size > 1) next.delete(run.run);
        else next.add(run.run);
      }
      this.onSelect([...next]);
    };
    const box = h("input", {
      class: "ld-check",
      attrs: { type: "checkbox", "aria-label": `Show ${run.run}` },
      on: {
        click: (e) => {
          e.stopPropagation();
          toggle(false);
        },
      },
    });
    box.checked = selected;
    const counts = (["error", "warning", "info"] as const)
      .filter((s) => run.counts[s] > 0)
      .map((s) => h("span", { class: `ld-count ld-sev-${s}`, title: `${run.counts[s]} ${s} events` }, run.counts[s].toLocaleString("en-US")));
    return h(
      "li",
      {
        class: `ld-run ld-health-${health}${selected ? " ld-selected" : ""}`,
        title: "Click to show this run; Ctrl/⌘-click or the box to add it",
        data: { run: run.run, health },
        attrs: { role: "option", "aria-selected": String(selected) },
        on: { click: (e) => toggle(!(e.ctrlKey || e.metaKey || e.shiftKey)) },
      },
      box,
      h("span", { class: "ld-dot", title: HEALTH_TEXT[health] }),
      h(
        "div",
        { class: "ld-run-text" },
        h("div", { class: "ld-run-name" }, run.run),
        h("div", { class: "ld-run-status", title: statusLine(run) }, health === "error" || health === "warning" ? categoryPill((run.first_error ?? run.first_event)?.category ?? "") : null, statusLine(run)),
      ),
      h("div", { class: "ld-run-counts" }, ...counts),
    );
  }
}
