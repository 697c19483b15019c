// The curation step of each variant, as thin adapters over the curation
// stage: the pool's captions are matched once (`curate match` on the pool's
// shard folder: sidecars on disk), a "match" variant keeps the rows with a
// match, a "balance" variant is `curate balance` on those sidecars (its data
// card and cumulative-matches plot included). Every variant becomes a
// selection folder the loader honours: no image bytes are copied and nothing
// per pool row is held in memory.
import os from "node:os";
import path from "node:path";
import { balanceFile } from "../curation/metaclip/balance-file.js";
import type { datacard } from "../curation/metaclip/datacard.js";
import { matchShards, sidecarsIn } from "../curation/metaclip/shard-match.js";
import { openSelection, SelectionWriter, ShardSelection } from "../formats/selection.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { readJsonl } from "../util/jsonl.js";
import type { VariantSpec } from "./config.js";

/** The pool matched once for every variant: a folder of match sidecars (one per shard). */
export interface MatchedPool {
  /** The sidecar folder (`curate match` output). */
  dir: string;
  /** The metadata file the pool was matched against. */
  metadata: string;
  /** Matches per metadata entry over the whole pool (MetaCLIP's entry counts). */
  counts: Float64Array;
  /** Rows with a usable key and caption, and those of them with a match. */
  rows: number;
  matched: number;
  /** Rows without a usable key or caption (never selected, counted). */
  badRows: number;
}

/** Match every pool caption against the metadata into sidecars under `dir`. */
export async function matchPool(shardsDir: string, metadata: string, dir: string, quiet: boolean): Promise<MatchedPool> {
  const r = await matchShards({ metadata, shards: shardsDir, output: dir, workers: os.availableParallelism(), quiet });
  return { dir, metadata, counts: r.counts, rows: r.stats.rows - r.stats.badRows, matched: r.stats.matched, badRows: r.stats.badRows };
}

/** The sidecar rows of the matched pool, shard by shard in manifest order. */
async function* sidecarRows(pool: MatchedPool): AsyncGenerator<{ key: string; shard: string; row: number; entries: number[] }> {
  for (const file of await sidecarsIn(pool.dir)) {
    for await (const { value } of readJsonl(file)) yield value as { key: string; shard: string; row: number; entries: number[] };
  }
}

export interface CuratedVariant {
  /** Selection folder for the trainer (null: the whole pool). */
  selection: string | null;
  /** Rows the variant trains on. */
  poolSize: number;
  /** datacard.json and its SVG (balanced variants). */
  datacard?: { json: string; svg: string; card: ReturnType<typeof datacard> };
}

/** Rows a user selection (selection folder, old selection.json, or key lines) keeps of the pool. */
async function userSelectionSize(file: string, pool: MatchedPool | null, poolRows: number, where: string): Promise<number> {
  const sel = openSelection(file, where);
  // Row lists: their kept counts (a row past a shard's end is refused when the loader opens the pool).
  if (sel instanceof ShardSelection) return sel.total();
  if (!pool) return Math.min(sel.size, poolRows);
  let n = 0;
  for await (const r of sidecarRows(pool)) if (sel.has(r.key)) n++;
  return n;
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
    return { selection: file, poolSize: await userSelectionSize(file, pool, poolRows, `${where}.file`) };
  }
  if (!pool) throw new Error("curateVariant: match/balance needs the matched pool");
  if (v.curation === "match") {
    // Rows with at least one match, written shard by shard (each sidecar holds one shard's rows).
    const writer = new SelectionWriter(path.join(dir, "selection"));
    let shard: string | null = null;
    let rows: number[] = [];
    let kept = 0;
    for await (const r of sidecarRows(pool)) {
      if (r.shard !== shard) {
        if (shard !== null) await writer.add(shard, rows);
        shard = r.shard;
        rows = [];
      }
      if (r.entries.length > 0) rows.push(r.row), kept++;
    }
    if (shard !== null) await writer.add(shard, rows);
    const selection = await writer.close();
    await writeJsonAtomic(path.join(dir, "match.json"), { poolRows, badRows: pool.badRows, matched: kept, entries: pool.counts.length });
    return { selection, poolSize: kept };
  }
  // Balance: MetaCLIP's per-entry probabilities t / max(count, t) from the pool's own counts.
  const b = await balanceFile({ metadata: pool.metadata, matches: pool.dir, t: v.t, seed: v.seed, output: dir, quiet: true });
  return {
    selection: b.files.selection!,
    poolSize: b.text.kept,
    datacard: { json: b.files.datacard, svg: b.files.plot, card: b.card },
  };
}
