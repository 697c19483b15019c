// Score histograms for DFN scoring and filtering: fixed bins over [-1, 1]
// (cosine similarity's range), so histograms of different runs line up.
import { barChart } from "../../util/plot.js";

export interface Histogram {
  /** bins + 1 edges from -1 to 1. */
  edges: number[];
  counts: number[];
}

export function histogram(scores: Iterable<number>, bins: number): Histogram {
  const edges = Array.from({ length: bins + 1 }, (_, i) => -1 + (2 * i) / bins);
  const counts = new Array<number>(bins).fill(0);
  for (const s of scores) {
    // Bin i holds [edge_i, edge_i+1); 1.0 goes into the last bin.
    const i = Math.min(bins - 1, Math.max(0, Math.floor(((s + 1) / 2) * bins)));
    counts[i]!++;
  }
  return { edges, counts };
}

/**
 * Bar chart of a histogram, trimmed to the bins that hold scores (cosines of
 * a CLIP sit in a narrow band); `kept` adds a second series.
 */
export function histogramSvg(h: Histogram, title: string, kept?: Histogram): string {
  let lo = h.counts.findIndex((c) => c > 0);
  let hi = h.counts.length - 1 - [...h.counts].reverse().findIndex((c) => c > 0);
  if (lo < 0) [lo, hi] = [0, h.counts.length - 1];
  const idx = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  const series = [{ name: "all pairs", values: idx.map((i) => h.counts[i]!) }];
  // Bin labels are the lower edges; every other one when many, so they do not overlap.
  if (kept) series.push({ name: "kept", values: idx.map((i) => kept.counts[i]!) });
  return barChart({ title, yLabel: "pairs", categories: idx.map((i, j) => (idx.length <= 16 || j % 2 === 0 ? h.edges[i]!.toFixed(2) : "")), series, width: Math.max(720, 40 + idx.length * 28) });
}
