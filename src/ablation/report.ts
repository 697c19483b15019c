// The ablation table (mean ± sample std over seeds per variant), its Markdown
// and CSV forms, bar charts per metric, training curves, and a self-contained
// HTML report with everything inlined (SVGs, data cards).
import { barChart, lineChart } from "../util/plot.js";

/** What one (variant, seed) run leaves behind in its result.json. */
export interface RunRecord {
  variant: string;
  seed: number;
  poolSize: number;
  samplesSeen: number;
  steps: number;
  status: string;
  finalLoss: number;
  /** Main metric per eval task (fractions), in suite order. */
  metrics: Record<string, number>;
  average: number;
  /** Every scalar of the suite (top-5, per-direction recalls, ...). */
  scalars: Record<string, number>;
  trainSeconds: number;
  evalSeconds: number;
  fingerprint: string;
}

export interface Stat {
  mean: number;
  std: number;
  n: number;
  values: number[];
}

export interface TableRow {
  variant: string;
  poolSize: number;
  samplesSeen: number;
  seeds: number[];
  /** Metric name -> mean/std over seeds (fractions). */
  metrics: Record<string, Stat>;
  average: Stat;
}

/** Mean and sample standard deviation (n − 1; 0 for a single value). */
export function stat(values: number[]): Stat {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, n, values };
}

/** One row per variant (in config order), metrics in suite order. */
export function tableRows(variants: string[], records: RunRecord[]): { rows: TableRow[]; metrics: string[] } {
  const metrics = records.length ? Object.keys(records[0]!.metrics) : [];
  const rows = variants.map((v) => {
    const rs = records.filter((r) => r.variant === v).sort((a, b) => a.seed - b.seed);
    return {
      variant: v,
      poolSize: rs[0]?.poolSize ?? 0,
      samplesSeen: rs[0]?.samplesSeen ?? 0,
      seeds: rs.map((r) => r.seed),
      metrics: Object.fromEntries(metrics.map((m) => [m, stat(rs.map((r) => r.metrics[m]!))])),
      average: stat(rs.map((r) => r.average)),
    };
  });
  return { rows, metrics };
}

const pct = (s: Stat) => `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}`;

export function tableMarkdown(rows: TableRow[], metrics: string[]): string {
  const head = ["variant", "pool size", "samples seen", "seeds", ...metrics.map((m) => `${m} (%)`), "average (%)"];
  const lines = [`| ${head.join(" | ")} |`, `| --- | ${head.slice(1).map(() => "---:").join(" | ")} |`];
  for (const r of rows) {
    lines.push(`| ${[r.variant, r.poolSize, r.samplesSeen, r.seeds.length, ...metrics.map((m) => pct(r.metrics[m]!)), `**${pct(r.average)}**`].join(" | ")} |`);
  }
  return lines.join("\n") + "\n";
}

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV with a mean and a std column per metric (fractions, full precision). */
export function tableCsv(rows: TableRow[], metrics: string[]): string {
  const head = ["variant", "pool_size", "samples_seen", "seeds", ...metrics.flatMap((m) => [`${m}_mean`, `${m}_std`]), "average_mean", "average_std"];
  const lines = [head.map(csvCell).join(",")];
  for (const r of rows) {
    const cells: (string | number)[] = [r.variant, r.poolSize, r.samplesSeen, r.seeds.join(" ")];
    for (const m of metrics) cells.push(r.metrics[m]!.mean, r.metrics[m]!.std);
    cells.push(r.average.mean, r.average.std);
    lines.push(cells.map(csvCell).join(","));
  }
  return lines.join("\n") + "\n";
}

/** A bar chart per metric (and the average): variants as bars, ± std as error bars, in percent. */
export function metricCharts(rows: TableRow[], metrics: string[]): { metric: string; svg: string }[] {
  const all = [...metrics.map((m) => ({ name: m, get: (r: TableRow) => r.metrics[m]! })), { name: "average", get: (r: TableRow) => r.average }];
  return all.map(({ name, get }) => ({
    metric: name,
    svg: barChart({
      title: `${name} (mean ± std over seeds)`,
      yLabel: `${name} (%)`,
      categories: rows.map((r) => r.variant),
      series: [{ name: `${rows[0]?.seeds.length ?? 0} seed(s)`, values: rows.map((r) => 100 * get(r).mean), errors: rows.map((r) => 100 * get(r).std) }],
    }),
  }));
}

/** Training loss per variant, averaged over seeds at each logged step. */
export function lossChart(curves: { variant: string; seed: number; points: [number, number][] }[], variants: string[]): string | null {
  const series = variants
    .map((v) => {
      const byStep = new Map<number, number[]>();
      for (const c of curves.filter((c) => c.variant === v)) for (const [s, l] of c.points) byStep.set(s, [...(byStep.get(s) ?? []), l]);
      const points = [...byStep].sort((a, b) => a[0] - b[0]).map(([s, ls]) => [s, ls.reduce((a, b) => a + b, 0) / ls.length] as [number, number]);
      return { name: v, points };
    })
    .filter((s) => s.points.length > 0);
  if (series.length === 0) return null;
  return lineChart({ title: "Training loss (mean over seeds)", xLabel: "step", yLabel: "contrastive loss", series });
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export interface HtmlReportInput {
  name: string;
  rows: TableRow[];
  metrics: string[];
  charts: { metric: string; svg: string }[];
  lossSvg: string | null;
  datacards: { variant: string; card: unknown; svg: string }[];
  /** Plain-text set-up shown under the title (the config's description). */
  intro?: string;
  /** Free text sections (setup, pool description), already plain text. */
  notes: { title: string; text: string }[];
}

/** One HTML file with every figure inlined; opens offline in any browser. */
export function htmlReport(o: HtmlReportInput): string {
  const th = ["variant", "pool size", "samples seen", "seeds", ...o.metrics.map((m) => `${m} (%)`), "average (%)"];
  const table = [
    `<table><thead><tr>${th.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>`,
    ...o.rows.map(
      (r) =>
        `<tr><td>${esc(r.variant)}</td><td>${r.poolSize}</td><td>${r.samplesSeen}</td><td>${r.seeds.length}</td>${o.metrics
          .map((m) => `<td>${esc(pct(r.metrics[m]!))}</td>`)
          .join("")}<td><b>${esc(pct(r.average))}</b></td></tr>`,
    ),
    `</tbody></table>`,
  ].join("\n");
  const cards = o.datacards.map((d) => {
    const c = d.card as { texts?: { in: number; matched: number; kept: number }; entries?: { total: number; headAboveT: number; tailShareAtT: number | null }; t?: number };
    const summary = c.texts && c.entries
      ? `t = ${c.t}: ${c.texts.in} texts in, ${c.texts.matched} matched, ${c.texts.kept} kept; ${c.entries.total} entries, ${c.entries.headAboveT} above t; tail share at t ${c.entries.tailShareAtT?.toFixed(3) ?? "-"}`
      : "";
    return `<h3>${esc(d.variant)}</h3><p>${esc(summary)}</p><div class="fig">${d.svg}</div><details><summary>datacard.json</summary><pre>${esc(JSON.stringify(d.card, null, 2))}</pre></details>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ablation ${esc(o.name)}</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}.fig{margin:1em 0}</style>
</head><body>
<h1>Data ablation: ${esc(o.name)}</h1>
<p>Every variant trains the same model with the same hyperparameters, samples seen and seeds, and runs the same eval suite; only the training data (a selection over one pool) changes. Values are mean ± sample standard deviation over seeds, in percent.</p>
${o.intro ? `<pre>${esc(o.intro)}</pre>` : ""}
<h2>Results</h2>
${table}
<h2>Metrics</h2>
${o.charts.map((c) => `<div class="fig">${c.svg}</div>`).join("\n")}
<h2>Training curves</h2>
${o.lossSvg ? `<div class="fig">${o.lossSvg}</div>` : "<p>No training logs.</p>"}
<h2>Curation data cards</h2>
${cards.length ? cards.join("\n") : "<p>No balanced variants.</p>"}
${o.notes.map((n) => `<h2>${esc(n.title)}</h2><pre>${esc(n.text)}</pre>`).join("\n")}
</body></html>
`;
}
