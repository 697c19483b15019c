// The curation step of each variant: match the pool's captions against the
// metadata once, then turn each variant into a selection the loader honours
// ({shard file: row ids}); no image bytes are copied. Balanced variants get a
// MetaCLIP data card (datacard.json) and its cumulative-matches SVG, as the
// curation stage writes per balance run.
import path from "node:path";
import { Balancer } from "../curation/metaclip/balance.js";
import { cumulativePlot, datacard } from "../curation/metaclip/datacard.js";
import { balanceRows, emptyTally } from "../curation/metaclip/balance-rows.js";
import { MatchPool } from "../curation/metaclip/match-rows.js";
import { listShards, readShard } from "../formats/shards.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { openSelection, ShardSelection, writeSelection } from "../formats/selection.js";
import { progress } from "../util/progress.js";
import type { VariantSpec } from "./config.js";

/** One pool row as curation sees it. */
export interface PoolRow {
  file: string;
  row: number;
  key: string;
  caption: string;
  /** Ascending metadata entry ids matched by the caption. */
  entries: Uint32Array;
}

export interface MatchedPool {
  rows: PoolRow[];
  /** Matches per metadata entry over the whole pool (MetaCLIP's entry counts). */
  counts: Float64Array;
  entries: string[];
  /** Rows without a usable key or caption (never selected, counted). */
  badRows: number;
}

/** Read every pool caption (streaming the shards) and match it against the metadata. */
export async function matchPool(shardsDir: string, entries: string[], quiet: boolean): Promise<MatchedPool> {
  const manifest = await listShards(shardsDir);
  const pool = new MatchPool(entries);
  const rows: PoolRow[] = [];
  let badRows = 0;
  const bar = progress("match pool", manifest.rows, { unit: "row", quiet });
  for (const s of manifest.shards) {
    for await (const { row, sample } of readShard(path.join(shardsDir, s.file))) {
      bar.increment();
      const key = sample.key as string | null;
      const caption = sample.caption as string | null;
      if (typeof key !== "string" || key === "" || typeof caption !== "string") {
        badRows++;
        continue;
      }
      const [ids] = await pool.matchRows([caption]);
      rows.push({ file: s.file, row, key, caption, entries: ids! });
    }
  }
  bar.stop();
  await pool.finish();
  const counts = pool.counts;
  return { rows, counts, entries, badRows };
}

export type SelectionMap = Record<string, number[]>;

function toSelection(rows: PoolRow[]): SelectionMap {
  const sel: SelectionMap = {};
  for (const r of rows) (sel[r.file] ??= []).push(r.row);
  return sel;
}

export interface CuratedVariant {
  /** Selection file for the trainer (null: the whole pool). */
  selection: string | null;
  /** Rows the variant trains on. */
  poolSize: number;
  /** datacard.json and its SVG (balanced variants). */
  datacard?: { json: string; svg: string; card: ReturnType<typeof datacard> };
}

/** Rows a user selection (selection folder, old selection.json, or key lines) keeps of the pool. */
function userSelectionSize(file: string, pool: MatchedPool | null, poolRows: number, where: string): number {
  const sel = openSelection(file, where);
  // Row lists: their kept counts (a row past a shard's end is refused when the loader opens the pool).
  if (sel instanceof ShardSelection) return sel.total();
  if (!pool) return Math.min(sel.size, poolRows);
  return pool.rows.filter((r) => sel.has(r.key)).length;
}

/** Write the variant's selection (and data card) under `dir`. */
export async function curateVariant(
  v: VariantSpec,
  pool: MatchedPool | null,
  poolRows: number,
  dir: string,
  where: string,
): Promise<CuratedVariant> {
  if (v.curation === "none") return { selection: null, poolSize: poolRows };
  if (v.curation === "selection") {
    const file = path.resolve(v.file);
    return { selection: file, poolSize: userSelectionSize(file, pool, poolRows, `${where}.file`) };
  }
  if (!pool) throw new Error("curateVariant: match/balance needs the matched pool");
  const selFile = path.join(dir, "selection");
  if (v.curation === "match") {
    const kept = pool.rows.filter((r) => r.entries.length > 0);
    await writeSelection(selFile, toSelection(kept));
    await writeJsonAtomic(path.join(dir, "match.json"), { poolRows, badRows: pool.badRows, matched: kept.length, entries: pool.entries.length });
    return { selection: selFile, poolSize: kept.length };
  }
  // Balance: MetaCLIP's per-entry probabilities t / max(count, t) from the pool's own counts.
  const balancer = new Balancer(pool.counts, v.t, v.seed);
  const tally = emptyTally(pool.entries.length);
  tally.text.lines = pool.rows.length;
  const kept: PoolRow[] = [];
  for await (const r of balanceRows(pool.rows, balancer, tally)) kept.push(r);
  await writeSelection(selFile, toSelection(kept));
  const card = datacard({ entries: pool.entries, counts: pool.counts, countsSource: "this run", keptCounts: tally.keptCounts, t: v.t, seed: v.seed, text: tally.text, extra: { variant: v.name } });
  const json = path.join(dir, "datacard.json");
  const svg = path.join(dir, "cumulative.svg");
  await writeJsonAtomic(json, card);
  await writeFileAtomic(svg, cumulativePlot(pool.counts, v.t, tally.keptCounts));
  return { selection: selFile, poolSize: kept.length, datacard: { json, svg, card } };
}
