// The curation step of each variant: match the pool's captions against the
// metadata once, then turn each variant into a selection the loader honours
// ({shard file: row ids}); no image bytes are copied. Balanced variants get a
// MetaCLIP data card (datacard.json) and its cumulative-matches SVG, as the
// curation stage writes per balance run.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Balancer } from "../curation/balance.js";
import { cumulativePlot, datacard, emptyTextStats } from "../curation/datacard.js";
import { buildMatcher } from "../curation/matcher.js";
import { listShards, readShard } from "../data/shards.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
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
  const matcher = buildMatcher(entries);
  const counts = new Float64Array(entries.length);
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
      const ids = matcher.match(caption);
      for (const e of ids) counts[e]! += 1;
      rows.push({ file: s.file, row, key, caption, entries: ids });
    }
  }
  bar.stop();
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

/** Keys of a user selection file (JSON array, {file: rows} map, or lines) resolved against the pool. */
function userSelectionSize(file: string, pool: MatchedPool | null, poolRows: number, where: string): number {
  if (!existsSync(file)) throw new InputError(`${where}: ${file} does not exist`);
  const text = readFileSync(file, "utf8");
  let keys: Set<string> | null = null;
  if (file.endsWith(".json")) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw new InputError(`${where}: ${file} is not JSON: ${(err as Error).message}`);
    }
    if (Array.isArray(v)) keys = new Set(v.map(String));
    else if (v && typeof v === "object") return Object.values(v as Record<string, unknown[]>).reduce((a, r) => a + new Set(Array.isArray(r) ? r : []).size, 0);
    else throw new InputError(`${where}: ${file}: expected an array of keys or a {shard: row ids} object`);
  } else {
    keys = new Set(text.split("\n").map((l) => l.trim()).filter((l) => l !== ""));
  }
  if (!pool) return Math.min(keys.size, poolRows);
  return pool.rows.filter((r) => keys!.has(r.key)).length;
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
  const selFile = path.join(dir, "selection.json");
  if (v.curation === "match") {
    const kept = pool.rows.filter((r) => r.entries.length > 0);
    await writeJsonAtomic(selFile, toSelection(kept));
    await writeJsonAtomic(path.join(dir, "match.json"), { poolRows, badRows: pool.badRows, matched: kept.length, entries: pool.entries.length });
    return { selection: selFile, poolSize: kept.length };
  }
  // Balance: MetaCLIP's per-entry probabilities t / max(count, t) from the pool's own counts.
  const balancer = new Balancer(pool.counts, v.t, v.seed);
  const keptCounts = new Float64Array(pool.entries.length);
  const text = emptyTextStats();
  const kept: PoolRow[] = [];
  for (const r of pool.rows) {
    text.lines++;
    text.texts++;
    const n = r.entries.length;
    text.matchesHistogram[Math.min(n, 10)]! += 1;
    text.matches += n;
    if (n === 0) continue;
    text.matched++;
    const q = balancer.keepProbability(r.entries);
    text.expectedKept += q;
    text.expectedKeptVar += q * (1 - q);
    if (balancer.keep(r.key, r.entries)) {
      kept.push(r);
      text.kept++;
      for (const e of r.entries) keptCounts[e]! += 1;
    }
  }
  await writeJsonAtomic(selFile, toSelection(kept));
  const card = datacard({ entries: pool.entries, counts: pool.counts, countsSource: "this run", keptCounts, t: v.t, seed: v.seed, text, extra: { variant: v.name } });
  const json = path.join(dir, "datacard.json");
  const svg = path.join(dir, "cumulative.svg");
  await writeJsonAtomic(json, card);
  await writeFileAtomic(svg, cumulativePlot(pool.counts, v.t, keptCounts));
  return { selection: selFile, poolSize: kept.length, datacard: { json, svg, card } };
}
