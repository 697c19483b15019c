// `clipts curate filter`: keep the best-scoring pairs of a scored pool.
//
// --keep-top f keeps exactly k = round(f * N) pairs, N = the scored pairs of
// the whole pool (rows the scorer skipped have no score and are never kept).
// Order: score descending; ties broken by shard file name ascending, then row
// ascending (the pool's manifest order for clipts shard names), so the result
// does not depend on the order sidecars are read. --threshold t keeps every
// pair with score >= t. Outputs (atomic): selection.json ({shard file: row
// ids ascending}, what data.selection and ablation `selection` variants read),
// kept.jsonl ({key, shard, row, score} in kept order), datacard.json and
// scores.svg (histogram of all vs kept scores).
import path from "node:path";
import { AtomicWriter, writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { histogram, histogramSvg } from "./dfn-hist.js";
import { readScoreSidecar, scoreSidecarsIn, type ScoredRow } from "./dfn-sidecar.js";

export interface FilterOptions {
  /** Folder of score sidecars from scoreShards. */
  scores: string;
  /** Fraction of scored pairs to keep, in (0, 1]. */
  keepTop?: number;
  /** Keep pairs with score >= threshold. */
  threshold?: number;
  output: string;
  bins?: number;
}

export interface FilterResult {
  files: { selection: string; kept: string; datacard: string; plot: string };
  pool: number;
  kept: number;
  /** Lowest kept score (the effective threshold), null when nothing is kept. */
  threshold: number | null;
  selection: Record<string, number[]>;
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

export async function filterScores(o: FilterOptions): Promise<FilterResult> {
  checkRule(o);
  const bins = o.bins ?? 40;
  const files = await scoreSidecarsIn(o.scores);
  const rows: ScoredRow[] = [];
  let skippedRows = 0;
  const badLines: string[] = [];
  let badLineCount = 0;
  const seen = new Set<string>();
  let duplicates = 0;
  for (const f of files) {
    const sc = await readScoreSidecar(f);
    for (const r of sc.scored) {
      // A row listed twice (e.g. a sidecar copied under two names) counts once.
      const id = `${r.shard}\u0000${r.row}`;
      if (seen.has(id)) {
        duplicates++;
        continue;
      }
      seen.add(id);
      rows.push(r);
    }
    skippedRows += sc.skipped.length;
    badLineCount += sc.badLines.length;
    for (const b of sc.badLines) if (badLines.length < 20) badLines.push(`${f}:${b.line}: ${b.why}`);
  }
  const kept = selectScored(rows, o);
  const selection: Record<string, number[]> = {};
  for (const r of [...kept].sort((a, b) => (a.shard < b.shard ? -1 : a.shard > b.shard ? 1 : a.row - b.row))) (selection[r.shard] ??= []).push(r.row);

  const out: FilterResult["files"] = {
    selection: path.join(o.output, "selection.json"),
    kept: path.join(o.output, "kept.jsonl"),
    datacard: path.join(o.output, "datacard.json"),
    plot: path.join(o.output, "scores.svg"),
  };
  const w = new AtomicWriter(out.kept);
  try {
    for (const r of kept) await w.write(`${JSON.stringify(r)}\n`);
    await w.commit();
  } catch (err) {
    await w.abort();
    throw err;
  }
  await writeJsonAtomic(out.selection, selection);
  const all = histogram(rows.map((r) => r.score), bins);
  const keptHist = histogram(kept.map((r) => r.score), bins);
  const threshold = kept.length > 0 ? kept[kept.length - 1]!.score : null;
  const card = {
    kind: "dfn-filter",
    scores: path.resolve(o.scores),
    rule: o.keepTop !== undefined ? { keepTop: o.keepTop } : { threshold: o.threshold },
    tieBreak: "score descending, then shard file name ascending, then row ascending",
    pool: { scored: rows.length, skippedByScorer: skippedRows, badSidecarLines: badLineCount, duplicateRows: duplicates, sidecars: files.length },
    kept: kept.length,
    keptFraction: rows.length > 0 ? kept.length / rows.length : 0,
    thresholdUsed: threshold,
    shards: Object.keys(selection).length,
    histogram: { edges: all.edges, all: all.counts, kept: keptHist.counts },
    ...(badLines.length > 0 ? { badLineExamples: badLines } : {}),
    files: out,
  };
  await writeJsonAtomic(out.datacard, card);
  const rule = o.keepTop !== undefined ? `top ${(100 * o.keepTop).toFixed(1)}%` : `score >= ${o.threshold}`;
  await writeFileAtomic(out.plot, histogramSvg(all, `DFN filter: ${rule}, kept ${kept.length} of ${rows.length}`, keptHist));
  return { files: out, pool: rows.length, kept: kept.length, threshold, selection, card };
}
