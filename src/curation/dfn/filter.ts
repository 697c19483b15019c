// `clipts curate filter`: keep the best-scoring pairs of a scored pool.
//
// --keep-top f keeps exactly k = round(f * N) pairs, N = the scored pairs of
// the whole pool (rows the scorer skipped have no score and are never kept).
// Order: score descending; ties broken by shard file name ascending, then row
// ascending (the pool's manifest order for clipts shard names), so the result
// does not depend on the order sidecars are read. --threshold t keeps every
// pair with score >= t. Outputs (atomic): OUT/selection/ (the selection folder,
// src/formats/selection.ts: what data.selection and ablation `selection` variants
// read), kept.jsonl ({key, shard, row, score}, shard then row order),
// datacard.json and scores.svg (histogram of all vs kept scores).
//
// Streaming: no pass holds more than one sidecar's rows (one shard) plus a
// 65536-bucket histogram. The k-th score is found by radix passes over the
// scores' order-preserving 64-bit keys (16 bits a pass) until its bucket holds
// at most BOUNDARY_CAP rows, which are then sorted; ties at that score are
// shared out by shard name and row from per-shard tie counts.
import path from "node:path";
import { AtomicWriter, writeFileAtomic, writeJsonAtomic } from "../../util/atomic.js";
import { InputError } from "../../util/errors.js";
import { SelectionWriter } from "../../formats/selection.js";
import { histogram, histogramSvg, type Histogram } from "./hist.js";
import { readScoreSidecar, scoreSidecarsIn, type ScoredRow } from "./sidecar.js";

export interface FilterOptions {
  /** Folder of score sidecars from scoreShards. */
  scores: string;
  /** Fraction of scored pairs to keep, in (0, 1]. */
  keepTop?: number;
  /** Keep pairs with score >= threshold. */
  threshold?: number;
  output: string;
  bins?: number;
  /** Rows of the boundary bucket sorted in memory (tests set it small to exercise the radix passes). */
  boundaryCap?: number;
}

export interface FilterResult {
  /** selection: the selection folder. */
  files: { selection: string; kept: string; datacard: string; plot: string };
  pool: number;
  kept: number;
  /** Lowest kept score (the effective threshold), null when nothing is kept. */
  threshold: number | null;
  /** Kept rows per shard file (small counts map; the rows are in the selection folder). */
  keptPerShard: Record<string, number>;
  card: Record<string, unknown>;
}

/** Score descending, then shard name, then row: a total order on distinct rows. */
export function compareScored(a: ScoredRow, b: ScoredRow): number {
  return b.score - a.score || (a.shard < b.shard ? -1 : a.shard > b.shard ? 1 : 0) || a.row - b.row;
}

/** The kept rows of `rows` (any order) by the rule above, in kept order. */
export function selectScored(rows: ScoredRow[], rule: { keepTop?: number; threshold?: number }): ScoredRow[] {
  const sorted = [...rows].sort(compareScored);
  if (rule.keepTop !== undefined) return sorted.slice(0, Math.round(rule.keepTop * rows.length));
  return sorted.filter((r) => r.score >= rule.threshold!);
}

function checkRule(o: FilterOptions): void {
  if ((o.keepTop === undefined) === (o.threshold === undefined)) throw new InputError("give exactly one of --keep-top or --threshold");
  if (o.keepTop !== undefined && !(o.keepTop > 0 && o.keepTop <= 1)) throw new InputError(`--keep-top must be a fraction in (0, 1], got ${o.keepTop}`);
  if (o.threshold !== undefined && !Number.isFinite(o.threshold)) throw new InputError(`--threshold must be a number, got ${o.threshold}`);
}

const BOUNDARY_CAP = 1 << 20;

// Order-preserving 64-bit key of a finite double as two uint32 words (hi, lo):
// a larger score has a larger key; -0 is taken as 0 (they compare equal).
const f64 = new Float64Array(1);
const w32 = new Uint32Array(f64.buffer);
// Index of the high word in the host's byte order.
const HI = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0;
function keyOf(score: number): [number, number] {
  f64[0] = score === 0 ? 0 : score;
  let hi = w32[HI]!;
  let lo = w32[1 - HI]!;
  if (hi & 0x80000000) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
  } else hi = (hi | 0x80000000) >>> 0;
  return [hi, lo];
}
/** 16-bit digit `level` (0 = most significant) of a key. */
function digit(k: [number, number], level: number): number {
  const w = level < 2 ? k[0] : k[1];
  return level % 2 === 0 ? w >>> 16 : w & 0xffff;
}

interface ShardRows {
  shard: string;
  rows: ScoredRow[];
}

interface PassStats {
  scored: number;
  skippedRows: number;
  badLineCount: number;
  badLines: string[];
  duplicates: number;
}

/**
 * The scored rows of the pool, one shard at a time (sidecar order, shards in
 * name order within a sidecar). A row listed twice within a shard counts once;
 * rows of a shard already read from an earlier sidecar (e.g. a sidecar copied
 * under two names) are duplicates. Only shard names are kept across sidecars.
 */
async function* shardsOf(files: string[], stats?: PassStats): AsyncGenerator<ShardRows> {
  const done = new Set<string>();
  for (const f of files) {
    const sc = await readScoreSidecar(f);
    const by = new Map<string, ScoredRow[]>();
    for (const r of sc.scored) {
      if (done.has(r.shard)) {
        if (stats) stats.duplicates++;
        continue;
      }
      let l = by.get(r.shard);
      if (!l) by.set(r.shard, (l = []));
      l.push(r);
    }
    if (stats) {
      stats.skippedRows += sc.skipped.length;
      stats.badLineCount += sc.badLines.length;
      for (const b of sc.badLines) if (stats.badLines.length < 20) stats.badLines.push(`${f}:${b.line}: ${b.why}`);
    }
    for (const shard of [...by.keys()].sort()) {
      done.add(shard);
      const rows = by.get(shard)!.sort((a, b) => a.row - b.row);
      let n = 0;
      for (let i = 0; i < rows.length; i++) if (i === 0 || rows[i]!.row !== rows[n - 1]!.row) rows[n++] = rows[i]!;
        else if (stats) stats.duplicates++;
      rows.length = n;
      if (stats) stats.scored += n;
      yield { shard, rows };
    }
  }
}

function addHist(into: Histogram | null, scores: number[], bins: number): Histogram {
  const h = histogram(scores, bins);
  if (!into) return h;
  for (let i = 0; i < bins; i++) into.counts[i]! += h.counts[i]!;
  return into;
}

/**
 * The k-th highest score of the pool (k >= 1) by radix passes over the keys:
 * each pass counts, among rows whose key starts with the digits found so far,
 * the next 16-bit digit; the boundary bucket is sorted once it is small.
 */
async function kthScore(files: string[], k: number, cap: number): Promise<number> {
  const prefix: number[] = [];
  let need = k;
  for (let level = 0; level < 4; level++) {
    const counts = new Float64Array(65536);
    for await (const { rows } of shardsOf(files)) {
      for (const r of rows) {
        const key = keyOf(r.score);
        if (prefix.every((d, l) => digit(key, l) === d)) counts[digit(key, level)]!++;
      }
    }
    let d = 65535;
    while (counts[d]! < need) need -= counts[d--]!;
    prefix.push(d);
    if (counts[d]! <= cap || level === 3) {
      // Collect the boundary bucket's scores (level 3: all equal) and sort them.
      const inBucket: number[] = [];
      for await (const { rows } of shardsOf(files)) {
        for (const r of rows) {
          const key = keyOf(r.score);
          if (prefix.every((dd, l) => digit(key, l) === dd)) inBucket.push(r.score);
        }
      }
      inBucket.sort((a, b) => b - a);
      return inBucket[need - 1]!;
    }
  }
  throw new Error("unreachable");
}

export async function filterScores(o: FilterOptions): Promise<FilterResult> {
  checkRule(o);
  const bins = o.bins ?? 40;
  const files = await scoreSidecarsIn(o.scores);
  // Pass 1: counts, bad lines, histogram of all scores.
  const st: PassStats = { scored: 0, skippedRows: 0, badLineCount: 0, badLines: [], duplicates: 0 };
  let all: Histogram | null = null;
  for await (const { rows } of shardsOf(files, st)) all = addHist(all, rows.map((r) => r.score), bins);
  all ??= histogram([], bins);
  const N = st.scored;

  // The rule as "score > v, plus the first `tiesKept` rows at score v in (shard, row) order".
  let keep: (shard: string) => (r: ScoredRow) => boolean;
  if (o.keepTop !== undefined) {
    const k = Math.round(o.keepTop * N);
    if (k === 0) keep = () => () => false;
    else {
      const v = await kthScore(files, k, o.boundaryCap ?? BOUNDARY_CAP);
      // Tie pass: rows above v, and rows at v per shard (one count per shard).
      let above = 0;
      const ties = new Map<string, number>();
      for await (const { shard, rows } of shardsOf(files)) {
        for (const r of rows) {
          if (r.score > v) above++;
          else if (r.score === v) ties.set(shard, (ties.get(shard) ?? 0) + 1);
        }
      }
      let m = k - above;
      const tieQuota = new Map<string, number>();
      for (const shard of [...ties.keys()].sort()) {
        const q = Math.min(m, ties.get(shard)!);
        tieQuota.set(shard, q);
        m -= q;
      }
      keep = (shard) => {
        let left = tieQuota.get(shard) ?? 0;
        // Rows arrive in row order, so the first `left` ties are the lowest rows.
        return (r) => r.score > v || (r.score === v && left-- > 0);
      };
    }
  } else {
    const t = o.threshold!;
    keep = () => (r) => r.score >= t;
  }

  const out: FilterResult["files"] = {
    selection: path.join(o.output, "selection"),
    kept: path.join(o.output, "kept.jsonl"),
    datacard: path.join(o.output, "datacard.json"),
    plot: path.join(o.output, "scores.svg"),
  };
  // Final pass: write kept rows shard by shard.
  const sel = new SelectionWriter(out.selection);
  const keptPerShard: Record<string, number> = {};
  let kept = 0;
  let threshold: number | null = null;
  let keptHist: Histogram | null = null;
  const w = new AtomicWriter(out.kept);
  try {
    for await (const { shard, rows } of shardsOf(files)) {
      const isKept = keep(shard);
      const k = rows.filter((r) => isKept(r));
      if (k.length === 0) continue;
      for (const r of k) {
        await w.write(`${JSON.stringify(r)}\n`);
        if (threshold === null || r.score < threshold) threshold = r.score;
      }
      await sel.add(shard, k.map((r) => r.row));
      keptPerShard[shard] = k.length;
      kept += k.length;
      keptHist = addHist(keptHist, k.map((r) => r.score), bins);
    }
    await w.commit();
  } catch (err) {
    await w.abort();
    throw err;
  }
  await sel.close();
  keptHist ??= histogram([], bins);
  const card = {
    kind: "dfn-filter",
    scores: path.resolve(o.scores),
    rule: o.keepTop !== undefined ? { keepTop: o.keepTop } : { threshold: o.threshold },
    tieBreak: "score descending, then shard file name ascending, then row ascending",
    pool: { scored: N, skippedByScorer: st.skippedRows, badSidecarLines: st.badLineCount, duplicateRows: st.duplicates, sidecars: files.length },
    kept,
    keptFraction: N > 0 ? kept / N : 0,
    thresholdUsed: threshold,
    shards: Object.keys(keptPerShard).length,
    histogram: { edges: all.edges, all: all.counts, kept: keptHist.counts },
    ...(st.badLines.length > 0 ? { badLineExamples: st.badLines } : {}),
    files: out,
  };
  await writeJsonAtomic(out.datacard, card);
  const rule = o.keepTop !== undefined ? `top ${(100 * o.keepTop).toFixed(1)}%` : `score >= ${o.threshold}`;
  await writeFileAtomic(out.plot, histogramSvg(all, `DFN filter: ${rule}, kept ${kept} of ${N}`, keptHist));
  return { files: out, pool: N, kept, threshold, keptPerShard, card };
}
