/**
 * A small SVG line-plot generator for the benchmark results (cost against cluster size), with no
 * npm dependency: linear or log axes, one polyline per series, markers, a legend, tick labels.
 *
 * @module
 */

/** One line of the plot. */
export interface PlotSeries {
  readonly label: string;
  /** Points as [x, y]; points with a non-finite coordinate are left out. */
  readonly points: readonly (readonly [number, number])[];
}

/** Options of {@linkcode renderLinePlot}. */
export interface PlotOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly PlotSeries[];
  /** Logarithmic axes (base 10); values <= 0 are left out of a log axis. */
  readonly logX?: boolean;
  readonly logY?: boolean;
  readonly width?: number;
  readonly height?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a === 0) return "0";
  if (a < 0.01) return v.toExponential(0);
  return `${+v.toPrecision(3)}`;
}

function niceTicks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const ticks: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      ticks.push(10 ** e);
    }
    return ticks;
  }
  const span = hi - lo || 1;
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(+t.toPrecision(12));
  }
  return ticks;
}

/** Renders a line plot as a standalone SVG document. */
export function renderLinePlot(opts: PlotOptions): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 400;
  const m = { left: 70, right: 20, top: 40, bottom: 55 };
  const keep = (x: number, y: number) =>
    Number.isFinite(x) && Number.isFinite(y) && (!opts.logX || x > 0) && (!opts.logY || y > 0);
  const series = opts.series.map((s) => ({
    label: s.label,
    points: s.points.filter(([x, y]) => keep(x, y)),
  }));
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let [xLo, xHi] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [yLo, yHi] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (!opts.logY) yLo = Math.min(0, yLo);
  if (!opts.logX && xLo > 0 && xLo < (xHi - xLo) * 0.5) xLo = 0;
  const xTicks = niceTicks(xLo, xHi, !!opts.logX);
  const yTicks = niceTicks(yLo, yHi, !!opts.logY);
  xLo = Math.min(xLo, xTicks[0]);
  xHi = Math.max(xHi, xTicks[xTicks.length - 1]);
  yLo = Math.min(yLo, yTicks[0]);
  yHi = Math.max(yHi, yTicks[yTicks.length - 1]);
  const fx = opts.logX ? Math.log10 : (v: number) => v;
  const fy = opts.logY ? Math.log10 : (v: number) => v;
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const sx = (v: number) => m.left + ((fx(v) - fx(xLo)) / ((fx(xHi) - fx(xLo)) || 1)) * plotW;
  const sy = (v: number) =>
    m.top + plotH - ((fy(v) - fy(yLo)) / ((fy(yHi) - fy(yLo)) || 1)) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${
      escapeXml(opts.title)
    }</text>`,
  );
  for (const t of xTicks) {
    const x = sx(t).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + plotH}" stroke="#eee"/>`,
      `<text x="${x}" y="${m.top + plotH + 15}" text-anchor="middle">${formatTick(t)}</text>`,
    );
  }
  for (const t of yTicks) {
    const y = sy(t).toFixed(1);
    out.push(
      `<line x1="${m.left}" y1="${y}" x2="${m.left + plotW}" y2="${y}" stroke="#eee"/>`,
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${
        formatTick(t)
      }</text>`,
    );
  }
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" ` +
      `stroke="#333"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${
      escapeXml(opts.xLabel)
    }</text>`,
    `<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">${
      escapeXml(opts.yLabel)
    }</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    if (pts.length > 1) {
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(" ")}"/>`,
      );
    }
    for (const p of pts) {
      const [x, y] = p.split(",");
      out.push(`<circle cx="${x}" cy="${y}" r="3" fill="${color}"/>`);
    }
    const ly = m.top + 12 + i * 16;
    out.push(
      `<line x1="${m.left + 10}" y1="${ly}" x2="${m.left + 30}" y2="${ly}" stroke="${color}" ` +
        `stroke-width="2"/>`,
      `<text x="${m.left + 35}" y="${ly}" dominant-baseline="middle">${escapeXml(s.label)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
