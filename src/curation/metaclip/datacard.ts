// Data card for a balancing run: what went in, what matched, what was kept,
// how the entry distribution looks before and after balancing, and a plot of
// cumulative matches over entries sorted by count (as in the MetaCLIP paper).
import { lineChart } from "../../util/plot.js";
import { pToT, tToP } from "./balance.js";

export interface TextStats {
  /** Non-blank lines of the matches file. */
  lines: number;
  blank: number;
  invalidJson: number;
  missingKey: number;
  /** "entries" missing, not an array, or holding ids that are not entry indices. */
  badEntries: number;
  invalidUtf8: number;
  /** Valid texts (lines that passed all checks). */
  texts: number;
  matched: number;
  /** Total (text, entry) matches over valid texts. */
  matches: number;
  kept: number;
  /** Σ over texts of 1 − Π(1 − p_e) and its variance Σ q(1 − q). */
  expectedKept: number;
  expectedKeptVar: number;
  /** Histogram of matches per text: index k = k matches, last bin = 10 or more. */
  matchesHistogram: number[];
  examples: string[];
}

export function emptyTextStats(): TextStats {
  return {
    lines: 0, blank: 0, invalidJson: 0, missingKey: 0, badEntries: 0, invalidUtf8: 0, texts: 0, matched: 0,
    matches: 0, kept: 0, expectedKept: 0, expectedKeptVar: 0, matchesHistogram: new Array(11).fill(0), examples: [],
  };
}

export interface DatacardInput {
  entries: readonly string[];
  /** Counts the probabilities were computed from (this run's, or global). */
  counts: ArrayLike<number>;
  countsSource: "this run" | string;
  /** Per-entry matches among the kept texts of this run. */
  keptCounts: ArrayLike<number>;
  t: number;
  seed: number;
  text: TextStats;
  /** Tail shares for which to report MetaCLIP's p_to_t. */
  tailShares?: number[];
  extra?: Record<string, unknown>;
}

const num = (x: number) => (Number.isFinite(x) ? x : null);

export function datacard(d: DatacardInput) {
  const { counts, t } = d;
  let total = 0, zero = 0, head = 0, balanced = 0, keptTotal = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    total += c;
    if (c === 0) zero++;
    if (c > t) head++;
    balanced += Math.min(c, t);
    keptTotal += d.keptCounts[i]!;
  }
  const order = Array.from({ length: counts.length }, (_, i) => i).sort((a, b) => counts[b]! - counts[a]! || a - b);
  const shares = d.tailShares ?? [0.1, 0.25, 0.5, 0.75, 0.9];
  const tx = d.text;
  const totalMatches = tx.matches;
  return {
    t, seed: d.seed,
    counts: d.countsSource,
    texts: {
      lines: tx.lines,
      blank: tx.blank,
      bad: { invalidJson: tx.invalidJson, missingKey: tx.missingKey, badEntries: tx.badEntries, invalidUtf8: tx.invalidUtf8 },
      badExamples: tx.examples,
      in: tx.texts,
      matched: tx.matched,
      kept: tx.kept,
      keptShareOfIn: num(tx.kept / tx.texts),
      expectedKept: tx.expectedKept,
      expectedKeptSd: Math.sqrt(tx.expectedKeptVar),
    },
    matchesPerText: {
      meanOverTexts: num(totalMatches / tx.texts),
      meanOverMatched: num(totalMatches / tx.matched),
      histogram: Object.fromEntries(tx.matchesHistogram.map((c, k) => [k === 10 ? "10+" : String(k), c])),
    },
    entries: {
      total: counts.length,
      zeroMatches: zero,
      headAboveT: head,
      totalMatches: total,
      expectedMatchesAfterBalancing: balanced,
      keptMatchesThisRun: keptTotal,
      tailShareAtT: num(tToP(counts, t)),
      tForTailShare: Object.fromEntries(shares.map((p) => [String(p), num(pToT(counts, p))])),
      top: order.slice(0, 20).map((i) => ({ entry: d.entries[i], count: counts[i], keptThisRun: d.keptCounts[i] })),
    },
    ...d.extra,
  };
}

/** Evenly spaced indices (at most `max`), always including the last. */
function sampleIdx(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(Math.round((k * (n - 1)) / (max - 1)));
  return out;
}

/**
 * Cumulative matches over entries sorted by count (tail first), before and
 * after balancing (expected count after balancing = min(count, t)); plus the
 * matches observed among kept texts when the counts are this run's own.
 */
export function cumulativePlot(counts: ArrayLike<number>, t: number, keptCounts?: ArrayLike<number>): string {
  const n = counts.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => counts[a]! - counts[b]! || a - b);
  const before = new Float64Array(n), after = new Float64Array(n), kept = new Float64Array(n);
  let b = 0, a = 0, k = 0;
  order.forEach((e, r) => {
    b += counts[e]!;
    a += Math.min(counts[e]!, t);
    k += keptCounts ? keptCounts[e]! : 0;
    before[r] = b;
    after[r] = a;
    kept[r] = k;
  });
  const idx = sampleIdx(n, 600);
  const series = [
    { name: "before balancing", points: idx.map((i) => [i + 1, before[i]!] as [number, number]) },
    { name: `after (min(count, ${t}))`, points: idx.map((i) => [i + 1, after[i]!] as [number, number]) },
  ];
  if (keptCounts) series.push({ name: "kept (observed)", points: idx.map((i) => [i + 1, kept[i]!] as [number, number]) });
  return lineChart({
    title: `Cumulative matches over entries sorted by count (t = ${t})`,
    xLabel: "entries sorted by count (tail to head)",
    yLabel: "cumulative matches",
    series,
  });
}
