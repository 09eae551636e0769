// The Loss Diagnostics tab: TensorBoard imports this module in the tab's iframe and calls render().
import uplotCss from "uplot/dist/uPlot.min.css";
import { fetchCurves, fetchEvents, fetchRuns, type Curve, type RunSummary } from "./api";
import { followTheme, listenForReloads } from "./host";
import { allClearMessage, detectorList, keepSelection, lacksModelChecks, overviewLine, plural, readEvents, runHealth, sortRuns, type DiagnosisView, type EventRow } from "./model";
import css from "./styles.css";
import { StepChart } from "./views/chart";
import { diagnosisCard } from "./views/diagnosis";
import { h, setChildren } from "./views/dom";
import { EventList } from "./views/events";
import { RunList } from "./views/runs";

// Without TensorBoard around it (no reload messages), the tab polls on its own.
const POLL_MS = 30_000;
const LOSS_HEIGHT = 280;
const STAT_HEIGHT = 150;

interface RunData {
  events: EventRow[];
  diagnoses: DiagnosisView[];
  notices: string[];
  curves: Curve[];
  stats: Curve[] | null;
}

interface RunCard {
  root: HTMLElement;
  /** Where the run's diagnoses are drawn, redrawn at each reload. */
  diagnosis: HTMLElement;
  loss: StepChart;
  stats: StepChart[];
}

class App {
  private readonly summary = h("div", { class: "ld-summary" });
  private readonly updated = h("span", { class: "ld-updated" });
  private readonly banner = h("div", { class: "ld-banner-slot" });
  private readonly cards = h("div", { class: "ld-charts" });
  private readonly runList: RunList;
  private readonly eventList: EventList;
  private runs: RunSummary[] = [];
  private detectors: string[] = [];
  private selected: string[] = [];
  private readonly data = new Map<string, RunData>();
  private readonly charts = new Map<string, RunCard>();
  private readonly statsShown = new Set<string>();
  private picked: EventRow | null = null;
  private loading: Promise<void> | null = null;

  constructor(root: HTMLElement) {
    this.runList = new RunList((runs) => {
      this.selected = runs;
      void this.reload();
    });
    this.eventList = new EventList((row) => this.pick(row));
    const refresh = h("button", { class: "ld-button ld-icon", title: "Reload now", on: { click: () => void this.reload() } }, "⟳");
    setChildren(
      root,
      h(
        "div",
        { class: "ld-root" },
        h("header", { class: "ld-header" }, h("h1", {}, "Loss Diagnostics"), this.summary, h("div", { class: "ld-header-end" }, this.updated, refresh)),
        this.banner,
        h(
          "div",
          { class: "ld-body" },
          this.runList.root,
          h("main", { class: "ld-main" }, this.cards, this.eventList.root),
        ),
      ),
    );
  }

  /** Loads and draws everything again; concurrent calls share one load. */
  reload(): Promise<void> {
    if (!this.loading) {
      this.loading = this.load()
        .catch((error: unknown) => this.showError(error))
        .finally(() => (this.loading = null));
    }
    return this.loading;
  }

  /** Redraws the charts in the new theme's colours. */
  retheme(): void {
    for (const run of [...this.charts.keys()]) this.dropCard(run);
    this.drawCards();
  }

  private async load(): Promise<void> {
    const response = await fetchRuns();
    this.runs = sortRuns(response.runs);
    this.detectors = response.detectors;
    this.selected = keepSelection(this.selected, this.runs);
    this.runList.update(this.runs, this.selected);
    this.summary.textContent = this.runs.length ? overviewLine(this.runs) : "";
    const fetched = await Promise.all(this.selected.map((run) => this.fetchRun(run)));
    fetched.forEach((d, i) => this.data.set(this.selected[i], d));
    for (const run of [...this.data.keys()]) if (!this.selected.includes(run)) this.data.delete(run);
    this.drawBanner();
    this.drawCards();
    this.drawEvents();
    this.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  private async fetchRun(run: string): Promise<RunData> {
    const summary = this.runs.find((r) => r.run === run);
    const wantStats = this.statsShown.has(run) && summary !== undefined && summary.stat_tags.length > 0;
    const [events, curves, stats] = await Promise.all([
      fetchEvents(run),
      fetchCurves(run),
      wantStats ? fetchCurves(run, summary.stat_tags) : Promise.resolve(null),
    ]);
    const { rows, diagnoses } = readEvents(run, events);
    return { events: rows, diagnoses, notices: events.notices, curves: curves.curves, stats: stats?.curves ?? null };
  }

  private drawBanner(): void {
    if (!this.runs.length) {
      setChildren(
        this.banner,
        h(
          "div",
          { class: "ld-card ld-banner ld-first-run" },
          h("h2", {}, "No loss curves here yet"),
          h("p", {}, "Log your training losses with tb_lossdiag's DiagWriter, a drop-in SummaryWriter that diagnoses them as you train:"),
          h("pre", {}, 'from tb_lossdiag import DiagWriter\nwriter = DiagWriter("runs/exp1")\nwriter.add_scalar("loss/train", loss, step)'),
          h("p", {}, "Runs appear here as soon as TensorBoard has read them."),
        ),
      );
      return;
    }
    const clear = allClearMessage(this.runs, this.detectors);
    setChildren(this.banner, clear ? h("div", { class: "ld-card ld-banner ld-all-clear" }, h("span", { class: "ld-big-check" }, "✓"), clear) : null);
  }

  private drawCards(): void {
    for (const run of [...this.charts.keys()]) if (!this.selected.includes(run)) this.dropCard(run);
    for (const run of this.selected) {
      const data = this.data.get(run);
      const summary = this.runs.find((r) => r.run === run);
      if (!data || !summary) continue;
      const card = this.charts.get(run);
      const statsWanted = data.stats !== null;
      if (card && card.stats.length === (statsWanted ? data.stats!.length : 0)) {
        this.drawDiagnoses(card.diagnosis, data.diagnoses);
        card.loss.update(data.curves, data.events);
        card.stats.forEach((chart, i) => chart.update([data.stats![i]], data.events));
      } else {
        const range = card?.loss.range() ?? null;
        if (card) this.dropCard(run);
        this.charts.set(run, this.makeCard(summary, data, range));
      }
    }
    // Keep the cards in the order of the run list.
    setChildren(this.cards, ...this.selected.map((run) => this.charts.get(run)?.root));
    if (this.picked) this.charts.get(this.picked.run)?.loss.focus(this.picked);
  }

  private makeCard(summary: RunSummary, data: RunData, range: [number, number] | null): RunCard {
    const run = summary.run;
    const follow = (chart: StepChart) => (r: [number, number]) => {
      const card = this.charts.get(run);
      if (!card) return;
      for (const other of [card.loss, ...card.stats]) if (other !== chart) other.setRange(r);
    };
    const pick = (row: EventRow) => this.pick(row);
    const loss: StepChart = new StepChart({
      height: LOSS_HEIGHT,
      curves: data.curves,
      events: data.events,
      onPick: pick,
      onRange: (r) => follow(loss)(r),
      emptyText: "No loss curve in this run: markers show the events' steps.",
    });
    const stats: StepChart[] = (data.stats ?? []).map((curve) => {
      const chart: StepChart = new StepChart({ height: STAT_HEIGHT, curves: [curve], events: data.events, onPick: pick, onRange: (r) => follow(chart)(r) });
      return chart;
    });
    if (range) for (const chart of [loss, ...stats]) chart.setRange(range);
    const health = runHealth(summary);
    const statsButton = summary.stat_tags.length
      ? h(
          "button",
          {
            class: `ld-button${data.stats ? " ld-on" : ""}`,
            title: summary.stat_tags.join(", "),
            attrs: { "aria-pressed": String(data.stats !== null) },
            on: { click: () => this.toggleStats(run) },
          },
          data.stats ? "Hide statistics" : `Show statistics (${plural(summary.stat_tags.length, "diag/ tag")})`,
        )
      : null;
    const reset = h("button", { class: "ld-button", on: { click: () => [loss, ...stats].forEach((c) => c.setRange(null)) } }, "Reset zoom");
    const diagnosis = h("div", { class: "ld-diagnoses" });
    this.drawDiagnoses(diagnosis, data.diagnoses);
    const root = h(
      "section",
      { class: `ld-card ld-run-card ld-health-${health}`, data: { run } },
      h(
        "div",
        { class: "ld-card-head" },
        h("span", { class: "ld-dot" }),
        h("h2", { class: "ld-run-title" }, run),
        h("span", { class: "ld-card-sub" }, summary.loss_tags.length ? summary.loss_tags.join(" · ") : "no loss tag"),
        h("div", { class: "ld-card-actions" }, statsButton, reset),
      ),
      health === "undiagnosed"
        ? h(
            "div",
            { class: "ld-note" },
            "Not diagnosed while training: this run was written by a plain SummaryWriter. Log it with tb_lossdiag.DiagWriter (a drop-in replacement) to see what goes wrong and how to fix it.",
          )
        : null,
      ...data.notices.map((n) => h("div", { class: "ld-note ld-note-warn" }, n)),
      diagnosis,
      loss.root,
      ...stats.map((chart, i) => h("div", { class: "ld-stat" }, h("div", { class: "ld-stat-title" }, data.stats![i].tag), chart.root)),
      h("div", { class: "ld-chart-help" }, "Scroll to zoom · drag to pan · double-click to reset · click a marker for its event"),
      lacksModelChecks(summary)
        ? h("div", { class: "ld-quiet" }, "Activation and input checks are off for this run: ", h("code", {}, "writer.watch(model, optimizer)"), " adds them.")
        : null,
    );
    return { root, diagnosis, loss, stats };
  }

  private drawDiagnoses(slot: HTMLElement, diagnoses: DiagnosisView[]): void {
    setChildren(slot, ...diagnoses.map((d, i) => diagnosisCard(d, i, (row) => this.pick(row))));
  }

  private dropCard(run: string): void {
    const card = this.charts.get(run);
    if (!card) return;
    for (const chart of [card.loss, ...card.stats]) chart.destroy();
    card.root.remove();
    this.charts.delete(run);
  }

  private toggleStats(run: string): void {
    if (this.statsShown.has(run)) this.statsShown.delete(run);
    else this.statsShown.add(run);
    void this.reload();
  }

  private drawEvents(): void {
    const rows = this.selected.flatMap((run) => this.data.get(run)?.events ?? []);
    const undiagnosed = this.selected.every((run) => this.runs.find((r) => r.run === run)?.diagnosed === false);
    const empty = undiagnosed
      ? "Not diagnosed: no tb_lossdiag record in the selected runs."
      : `No anomalies in ${this.selected.length === 1 ? "this run" : plural(this.selected.length, "selected run")}. Every logged loss was checked${
          this.detectors.length ? ` by ${detectorList(this.detectors)}` : ""
        }.`;
    this.eventList.update(rows, this.selected.length > 1, empty);
    if (this.picked && !rows.some((r) => r.id === this.picked!.id)) this.picked = null;
    this.eventList.select(this.picked?.id ?? null);
  }

  private pick(row: EventRow): void {
    this.picked = row;
    for (const [run, card] of this.charts) {
      for (const chart of [card.loss, ...card.stats]) {
        if (run === row.run) chart.focus(row);
        else chart.clearFocus();
      }
    }
    this.eventList.select(row.id);
    this.charts.get(row.run)?.root.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  private showError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    setChildren(this.banner, h("div", { class: "ld-card ld-banner ld-error-banner" }, `Could not load the diagnostics: ${message}. Retrying at the next reload.`));
  }
}

/** Entry point called by TensorBoard's plugin_entry.html. */
export async function render(): Promise<void> {
  document.head.append(h("style", {}, uplotCss), h("style", {}, css));
  const app = new App(document.body);
  followTheme((dark) => {
    document.documentElement.classList.toggle("ld-dark", dark);
    app.retheme();
  });
  if (!listenForReloads(() => void app.reload())) window.setInterval(() => void app.reload(), POLL_MS);
  await app.reload();
  // Two frames: the browser has laid out and painted the first complete view.
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      performance.mark("lossdiag-painted");
      document.body.dataset.paintedMs = performance.now().toFixed(1);
    }),
  );
}
