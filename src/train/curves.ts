// The training-curves plot written beside the checkpoints: the training loss
// and every eval metric over steps, read back from the run's log.jsonl, so a
// user sees at a glance whether a run learns.
import { lineChart, type Series } from "../util/plot.js";
import { readJsonl } from "../util/jsonl.js";
import { writeFileAtomic } from "../util/atomic.js";

/** At most this many points per series: a long run logs 1e5+ lines, a chart needs a few hundred. */
const MAX_POINTS = 1000;

function thin(points: [number, number][]): [number, number][] {
  if (points.length <= MAX_POINTS) return points;
  const stride = Math.ceil(points.length / MAX_POINTS);
  const out = points.filter((_, i) => i % stride === 0);
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]!);
  return out;
}

export interface TrainingCurves {
  loss: Series;
  eval: Series[];
}

/**
 * The loss and eval series of a log.jsonl (lines `{step, loss, ...}` and
 * `{step, split: "eval", <metric>: v}`). A resumed run may have rewritten
 * steps: a later line for the same step replaces the earlier one. Bad lines
 * are skipped.
 */
export async function readTrainingCurves(jsonlFile: string): Promise<TrainingCurves> {
  const loss = new Map<number, number>();
  const evals = new Map<string, Map<number, number>>();
  for await (const { value } of readJsonl(jsonlFile)) {
    if (typeof value !== "object" || value === null) continue;
    const row = value as Record<string, unknown>;
    const step = row.step;
    if (typeof step !== "number" || !Number.isFinite(step)) continue;
    if (row.split === "eval") {
      for (const [k, v] of Object.entries(row)) {
        if (k === "step" || k === "time" || k === "split" || typeof v !== "number" || !Number.isFinite(v)) continue;
        if (!evals.has(k)) evals.set(k, new Map());
        evals.get(k)!.set(step, v);
      }
    } else if (typeof row.loss === "number" && Number.isFinite(row.loss)) {
      loss.set(step, row.loss);
    }
  }
  const sorted = (m: Map<number, number>) => thin([...m].sort((a, b) => a[0] - b[0]));
  return {
    loss: { name: "train loss", points: sorted(loss) },
    eval: [...evals].sort((a, b) => a[0].localeCompare(b[0])).map(([name, m]) => ({ name, points: sorted(m) })),
  };
}

/** One SVG with the loss chart on top and the eval-metric chart below (when the run evaluated). */
export function curvesSvg(c: TrainingCurves, title: string): string {
  const width = 760, height = 380;
  const charts: string[] = [];
  if (c.loss.points.length > 0) charts.push(lineChart({ title: `${title}: training loss`, xLabel: "step", yLabel: "loss", series: [c.loss], width, height }));
  // The headline metrics (zero-shot top-1, retrieval mean R@1) when the suite has them: a suite logs ~10
  // metrics per task, too many lines for one readable chart; log.jsonl keeps them all.
  const all = c.eval.filter((s) => s.points.length > 0);
  const headline = all.filter((s) => /\/(top1|mean_recall@1)$/.test(s.name));
  const ev = headline.length > 0 ? headline : all;
  if (ev.length > 0) charts.push(lineChart({ title: `${title}: eval metrics`, xLabel: "step", yLabel: "metric", series: ev, width, height }));
  if (charts.length === 0) return "";
  // Each chart is a complete <svg>; nested <svg> elements stack them in one file.
  const body = charts.map((svg, i) => svg.replace("<svg ", `<svg y="${i * height}" `)).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height * charts.length}" viewBox="0 0 ${width} ${height * charts.length}">\n${body}</svg>\n`;
}

/** Write `outFile` (atomically) from a run's log.jsonl; returns false when the log holds nothing to plot. */
export async function writeTrainingCurves(jsonlFile: string, outFile: string, title = "training"): Promise<boolean> {
  const svg = curvesSvg(await readTrainingCurves(jsonlFile), title);
  if (svg === "") return false;
  await writeFileAtomic(outFile, svg);
  return true;
}
