// Dependency-free SVG charts for data cards, training curves and ablation
// reports. SVG opens in any browser and embeds directly in the HTML report.

export interface Series {
  name: string;
  points: [number, number][];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
}

export interface BarChartOptions {
  title: string;
  yLabel: string;
  categories: string[];
  series: { name: string; values: number[]; errors?: number[] }[];
  width?: number;
  height?: number;
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const M = { left: 70, right: 160, top: 40, bottom: 55 };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
  if (a >= 100) return v.toFixed(0);
  return Number(v.toPrecision(3)).toString();
}

/** Nice evenly spaced ticks (linear) or powers of ten (log). */
function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
    return out.filter((t) => t >= lo / 1.0001 && t <= hi * 1.0001);
  }
  if (hi === lo) return [lo];
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

function frame(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
}

function legend(names: string[], x: number, y: number): string[] {
  return names.flatMap((n, i) => [
    `<rect x="${x}" y="${y + i * 18 - 9}" width="12" height="10" fill="${COLORS[i % COLORS.length]}"/>`,
    `<text x="${x + 18}" y="${y + i * 18}">${esc(n)}</text>`,
  ]);
}

export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 720, height = o.height ?? 420;
  const pw = width - M.left - M.right, ph = height - M.top - M.bottom;
  const pts = o.series.flatMap((s) => s.points).filter(([x, y]) => (!o.logX || x > 0) && (!o.logY || y > 0));
  if (pts.length === 0) throw new Error(`lineChart "${o.title}": no points to plot`);
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) y1 = y0 + 1;
  if (!o.logY && y0 > 0 && y0 < y1 * 0.5) y0 = 0;
  const tx = (v: number) => o.logX ? Math.log10(v) : v;
  const ty = (v: number) => o.logY ? Math.log10(v) : v;
  const sx = (v: number) => M.left + ((tx(v) - tx(x0)) / (tx(x1) - tx(x0))) * pw;
  const sy = (v: number) => M.top + ph - ((ty(v) - ty(y0)) / (ty(y1) - ty(y0))) * ph;
  const out = frame(width, height, o.title);
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const t of ticks(x0, x1, !!o.logX)) {
    out.push(`<line x1="${sx(t)}" y1="${M.top + ph}" x2="${sx(t)}" y2="${M.top + ph + 5}" stroke="#333"/>`);
    out.push(`<text x="${sx(t)}" y="${M.top + ph + 18}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of ticks(y0, y1, !!o.logY)) {
    out.push(`<line x1="${M.left}" y1="${sy(t)}" x2="${M.left + pw}" y2="${sy(t)}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  out.push(`<text x="${M.left + pw / 2}" y="${height - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    const p = s.points.filter(([x, y]) => (!o.logX || x > 0) && (!o.logY || y > 0));
    if (p.length === 0) return;
    const d = p.map(([x, y], j) => `${j ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
    out.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
  });
  out.push(...legend(o.series.map((s) => s.name), M.left + pw + 12, M.top + 12), "</svg>");
  return out.join("\n") + "\n";
}

export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 720, height = o.height ?? 420;
  const pw = width - M.left - M.right, ph = height - M.top - M.bottom;
  const all = o.series.flatMap((s) => s.values.map((v, i) => v + (s.errors?.[i] ?? 0)));
  const y1 = Math.max(...all, 0) || 1;
  const y0 = Math.min(...o.series.flatMap((s) => s.values), 0);
  const sy = (v: number) => M.top + ph - ((v - y0) / (y1 - y0)) * ph;
  const out = frame(width, height, o.title);
  out.push(`<line x1="${M.left}" y1="${sy(0)}" x2="${M.left + pw}" y2="${sy(0)}" stroke="#333"/>`);
  for (const t of ticks(y0, y1, false)) {
    out.push(`<line x1="${M.left}" y1="${sy(t)}" x2="${M.left + pw}" y2="${sy(t)}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  const group = pw / Math.max(1, o.categories.length);
  const bw = (group * 0.8) / Math.max(1, o.series.length);
  o.categories.forEach((c, ci) => {
    const gx = M.left + ci * group + group * 0.1;
    o.series.forEach((s, si) => {
      const v = s.values[ci] ?? 0;
      const x = gx + si * bw;
      out.push(`<rect x="${x.toFixed(1)}" y="${Math.min(sy(v), sy(0)).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${Math.abs(sy(v) - sy(0)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s.name} ${c}: ${fmt(v)}`)}</title></rect>`);
      const e = s.errors?.[ci];
      if (e) out.push(`<line x1="${x + bw / 2 - 1}" y1="${sy(v - e)}" x2="${x + bw / 2 - 1}" y2="${sy(v + e)}" stroke="#000"/>`);
    });
    out.push(`<text x="${gx + group * 0.4}" y="${M.top + ph + 18}" text-anchor="middle">${esc(c)}</text>`);
  });
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  out.push(...legend(o.series.map((s) => s.name), M.left + pw + 12, M.top + 12), "</svg>");
  return out.join("\n") + "\n";
}
