// A step-axis line chart (uPlot) with a marker at every event's step, a shaded band where values
// were NaN/Inf, hover details, wheel zoom, drag pan and focus on an event.
import uPlot from "uplot";
import type { Curve, Severity } from "../api";
import type { NonFinite } from "../api";
import { alignCurves, bandLabel, focusRange, focusStart, nearestIndex, nonFiniteBands, placeMarkers, zoomRange, type Marker, type NonFiniteBand } from "../axis";
import { formatStep, formatValue, isBeforeTraining, SEVERITY_RANK, whenLabel, type EventRow, type Range } from "../model";
import { h, setChildren } from "./dom";
import { eventSummary } from "./format";

export const CURVE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#17becf", "#8c564b"];
const HOVER_PX = 7;
// Steps are whole numbers: tick at 1, 2, 5, 10, 20, 25, 50, ... never at 37.5.
const STEP_TICKS = Array.from({ length: 10 }, (_, e) => [1, 2, 5].map((m) => m * 10 ** e).concat(e > 0 ? [25 * 10 ** (e - 1)] : [])).flat().sort((a, b) => a - b);

export interface ChartOptions {
  height: number;
  curves: Curve[];
  events: EventRow[];
  /** A click on a marker (not a drag). */
  onPick?: (row: EventRow) => void;
  /** The x-range after a zoom or pan by the user, for the charts that follow this one. */
  onRange?: (range: Range) => void;
  /** Text shown over the plot when there is no curve to draw. */
  emptyText?: string;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export class StepChart {
  readonly root: HTMLElement;
  private readonly plotEl: HTMLElement;
  private readonly tip: HTMLElement;
  private readonly u: uPlot;
  private markers: Marker[] = [];
  private bands: NonFiniteBand[] = [];
  private nonfinite: (NonFinite | undefined)[][] = [];
  private markerXs = new Float64Array(0);
  private extent: Range = [0, 1];
  private highlighted: EventRow | null = null;
  private hovered: Marker | null = null;
  private readonly resize: ResizeObserver;

  constructor(private readonly opts: ChartOptions) {
    this.plotEl = h("div", { class: "ld-plot" });
    this.tip = h("div", { class: "ld-tip", attrs: { role: "tooltip" } });
    this.root = h("div", { class: "ld-chart" }, this.plotEl, this.tip);
    const data = this.data(opts.curves, opts.events);
    const text = cssVar("--ld-text-2");
    const grid = cssVar("--ld-grid");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: "11px Roboto, sans-serif" };
    this.u = new uPlot(
      {
        width: 600,
        height: opts.height,
        legend: { show: opts.curves.length > 0, live: true },
        cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
        scales: { x: { time: false } },
        axes: [
          // No step is negative: left of the first step is only the marker of the findings before training.
          { ...axis, incrs: STEP_TICKS, label: "step", labelSize: 16, labelFont: "11px Roboto, sans-serif", values: (_u, ticks) => ticks.map((t) => (t < 0 ? "" : formatStep(t))) },
          { ...axis, size: 56 },
        ],
        series: [
          { label: "step", value: (_u, v) => (v == null ? "–" : formatStep(v)) },
          ...opts.curves.map((c, i) => ({
            label: c.tag,
            stroke: CURVE_COLORS[i % CURVE_COLORS.length],
            width: 1.5,
            points: { show: false },
            value: (_u: uPlot, v: number | null, _s: number, at: number | null) =>
              v != null ? String(Number(v.toPrecision(5))) : at != null && this.nonfinite[i][at] ? formatValue(this.nonfinite[i][at] as NonFinite) : "–",
          })),
        ],
        hooks: {
          draw: [(u) => (this.drawBands(u), this.drawMarkers(u))],
          setCursor: [(u) => this.hover(u)],
          setScale: [(_u, key) => key === "x" && this.publishRange()],
        },
      },
      data,
      this.plotEl,
    );
    this.setRange(this.extent);
    this.bindMouse();
    if (!opts.curves.length && opts.emptyText) this.plotEl.append(h("div", { class: "ld-plot-empty" }, opts.emptyText));
    this.resize = new ResizeObserver(() => this.u.setSize({ width: Math.max(this.root.clientWidth, 200), height: opts.height }));
    this.resize.observe(this.root);
  }

  /** New curves and events (a reload); the user's zoom is kept. */
  update(curves: Curve[], events: EventRow[]): void {
    const range = this.isZoomed() ? this.range() : null;
    this.u.setData(this.data(curves, events), false);
    this.setRange(range ?? this.extent);
  }

  /** The visible step range. */
  range(): Range {
    const { min, max } = this.u.scales.x;
    return [min ?? this.extent[0], max ?? this.extent[1]];
  }

  /** Shows `range`; null shows every step. */
  setRange(range: Range | null): void {
    const [min, max] = range ?? this.extent;
    this.u.setScale("x", { min, max });
  }

  /** Centres the chart on `row`'s step (the start, for a finding before training) and highlights its marker. */
  focus(row: EventRow): void {
    this.highlighted = row;
    this.setRange(isBeforeTraining(row.step) ? focusStart(this.range(), this.extent) : focusRange(row.step, this.range(), this.extent));
    this.root.dataset.highlightStep = String(row.step);
    this.u.redraw(false);
  }

  /** Removes the highlight. */
  clearFocus(): void {
    this.highlighted = null;
    delete this.root.dataset.highlightStep;
    this.u.redraw(false);
  }

  destroy(): void {
    this.resize.disconnect();
    this.u.destroy();
  }

  private data(curves: Curve[], events: EventRow[]): uPlot.AlignedData {
    const aligned = alignCurves(curves);
    this.nonfinite = aligned.nonfinite;
    this.bands = nonFiniteBands(curves);
    this.root.dataset.nonfinite = this.bands.map((b) => `${b.start}-${b.end}: ${bandLabel(b)}`).join("; ");
    const layout = placeMarkers(events, aligned.steps);
    this.markers = layout.markers;
    this.markerXs = Float64Array.from(this.markers, (m) => m.x);
    this.extent = layout.extent;
    return [aligned.steps, ...aligned.series] as uPlot.AlignedData;
  }

  private isZoomed(): boolean {
    const [min, max] = this.range();
    return max - min < (this.extent[1] - this.extent[0]) * 0.999;
  }

  private publishRange(): void {
    const [min, max] = this.range();
    this.root.dataset.xMin = String(min);
    this.root.dataset.xMax = String(max);
    const visible = this.markers.filter((m) => m.x >= min && m.x <= max);
    this.root.dataset.markerSteps = visible.slice(0, 500).map((m) => m.step).join(",");
  }

  /** Each stretch of NaN/Inf values: a band from its first to its last step, labelled with its count. */
  private drawBands(u: uPlot): void {
    if (!this.bands.length) return;
    const ctx = u.ctx;
    const dpr = devicePixelRatio || 1;
    const { left, top, width, height } = u.bbox;
    const color = cssVar("--ld-error");
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.font = `500 ${11 * dpr}px Roboto, sans-serif`;
    ctx.textBaseline = "top";
    ctx.textAlign = "left"; // uPlot's axes leave it centred
    for (const band of this.bands) {
      const x0 = u.valToPos(band.start, "x", true);
      // A stretch of one step still shows: at least 4 px wide.
      const x1 = Math.max(u.valToPos(band.end, "x", true), x0 + 4 * dpr);
      ctx.fillStyle = color;
      ctx.globalAlpha = 0.1;
      ctx.fillRect(x0, top, x1 - x0, height);
      ctx.globalAlpha = 0.6;
      ctx.fillRect(x0, top, 1 * dpr, height);
      ctx.globalAlpha = 1;
      ctx.fillText(bandLabel(band), x0 + 5 * dpr, top + 14 * dpr);
    }
    ctx.restore();
  }

  private drawMarkers(u: uPlot): void {
    const ctx = u.ctx;
    const dpr = devicePixelRatio || 1;
    const [min, max] = this.range();
    const top = u.bbox.top;
    const bottom = top + u.bbox.height;
    const colors: Record<Severity, string> = {
      error: cssVar("--ld-error"),
      warning: cssVar("--ld-warning"),
      info: cssVar("--ld-info"),
    };
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, top - 8 * dpr, u.bbox.width, u.bbox.height + 8 * dpr);
    ctx.clip();
    // Mildest first, so that an error is drawn over a warning at a nearby step.
    const order = [...this.markers].sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
    for (const m of order) {
      if (m.x < min || m.x > max) continue;
      const x = Math.round(u.valToPos(m.x, "x", true)) + 0.5;
      const strong = m === this.hovered || (this.highlighted !== null && this.highlighted.step === m.step);
      // Findings before training: a solid line and a square head with its label; steps: dashed, a triangle.
      const [alpha, width] = m.before ? [strong ? 1 : 0.7, strong ? 2.5 : 1.5] : [strong ? 1 : 0.45, strong ? 2 : 1];
      ctx.strokeStyle = colors[m.severity];
      ctx.fillStyle = colors[m.severity];
      ctx.globalAlpha = alpha;
      ctx.lineWidth = width * dpr;
      ctx.setLineDash(strong || m.before ? [] : [3 * dpr, 3 * dpr]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      ctx.globalAlpha = 1;
      if (m.before) {
        this.drawStartHead(ctx, m.label, x, top, strong, dpr);
        continue;
      }
      const r = (strong ? 7 : 5) * dpr;
      ctx.beginPath();
      ctx.moveTo(x - r, top);
      ctx.lineTo(x + r, top);
      ctx.lineTo(x, top + r * 1.4);
      ctx.closePath();
      ctx.fill();
    }
    ctx.restore();
  }

  /** The head of the marker of the findings before training: a square and its label ("data") beside it. */
  private drawStartHead(ctx: CanvasRenderingContext2D, label: string, x: number, top: number, strong: boolean, dpr: number): void {
    const r = (strong ? 6 : 5) * dpr;
    ctx.fillRect(x - r, top, 2 * r, 2 * r);
    ctx.font = `500 ${10 * dpr}px Roboto, sans-serif`;
    ctx.textBaseline = "middle";
    ctx.fillStyle = cssVar("--ld-data");
    ctx.fillText(label.toUpperCase(), x + r + 3 * dpr, top + r);
  }

  private markerAt(left: number): Marker | null {
    if (left < 0 || !this.markers.length) return null;
    const i = nearestIndex(this.markerXs, this.u.posToVal(left, "x"));
    const m = this.markers[i];
    return Math.abs(this.u.valToPos(m.x, "x") - left) <= HOVER_PX ? m : null;
  }

  private hover(u: uPlot): void {
    const m = this.markerAt(u.cursor.left ?? -1);
    if (m !== this.hovered) {
      this.hovered = m;
      u.redraw(false);
    }
    if (!m) {
      this.tip.classList.remove("ld-tip-on");
      return;
    }
    const shown = m.rows.slice(0, 3);
    setChildren(
      this.tip,
      h("div", { class: "ld-tip-step" }, whenLabel(m.step), m.rows.length > 1 ? ` · ${m.rows.length} events` : ""),
      ...shown.map((row) => eventSummary(row)),
      m.rows.length > shown.length ? h("div", { class: "ld-tip-more" }, `and ${m.rows.length - shown.length} more in the list`) : null,
    );
    const x = u.valToPos(m.x, "x") + u.over.offsetLeft;
    const flip = x > this.root.clientWidth / 2;
    this.tip.style.left = flip ? "" : `${x + 12}px`;
    this.tip.style.right = flip ? `${this.root.clientWidth - x + 12}px` : "";
    this.tip.style.top = `${u.over.offsetTop + 8}px`;
    this.tip.classList.add("ld-tip-on");
  }

  private bindMouse(): void {
    const over = this.u.over;
    over.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        const anchor = this.u.posToVal(e.offsetX, "x");
        const next = zoomRange(this.range(), anchor, e.deltaY < 0 ? 0.8 : 1.25);
        this.setRange(next);
        this.opts.onRange?.(next);
      },
      { passive: false },
    );
    over.addEventListener("mousedown", (e) => {
      if (e.button !== 0) return;
      const startX = e.clientX;
      const start = this.range();
      let moved = false;
      const move = (ev: MouseEvent) => {
        const dx = ev.clientX - startX;
        if (Math.abs(dx) > 3) moved = true;
        if (!moved) return;
        over.classList.add("ld-panning");
        const shift = (-dx / over.clientWidth) * (start[1] - start[0]);
        const next: Range = [start[0] + shift, start[1] + shift];
        this.setRange(next);
        this.opts.onRange?.(next);
      };
      const up = () => {
        window.removeEventListener("mousemove", move);
        window.removeEventListener("mouseup", up);
        over.classList.remove("ld-panning");
        if (!moved && this.hovered) this.opts.onPick?.(this.hovered.rows[0]);
      };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    });
    over.addEventListener("dblclick", () => {
      this.setRange(null);
      this.opts.onRange?.(this.extent);
    });
  }
}
