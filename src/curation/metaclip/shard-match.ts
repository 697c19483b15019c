// MetaCLIP matching on Arrow shards. Each shard gets a sidecar of matches keyed
// by shard and row (`<shard>.matches.jsonl`, one line per readable row:
// {key, shard, row, entries}); `balance` reads those sidecars and writes the
// kept subset as a selection ({shard file: row ids}) the loader honours, so no
// image bytes are copied. Shards are the unit of a job array: task i of n
// matches shards i, i+n, i+2n, ... and writes its own count file.
import { promises as fs } from "node:fs";
import path from "node:path";
import { InputError } from "../../util/errors.js";
import { fsyncDir, writeJsonAtomic } from "../../util/atomic.js";
import { readTextBounded } from "../../util/bounded-read.js";
import { sha256File } from "../../util/sha256.js";
import { writeCounts } from "./counts.js";
import type { ShardSpec } from "../../util/job-array.js";
import { MatchPool } from "./match-rows.js";
import { loadMetadata } from "./metadata.js";
import { shardSuffix, writeShardSidecars } from "../shard-sidecars.js";
import { shardStem } from "../../formats/webdataset.js";

export interface MatchShardsOptions {
  metadata: string;
  /** Shard folder (with manifest.json). */
  shards: string;
  /** Folder for the sidecars, `entry_counts.json` and `match_stats.json`. */
  output: string;
  /** Job-array part: this task matches shards index, index+count, ... */
  shard?: ShardSpec;
  /** Matching threads (default 1; the output is the same for any number). */
  workers?: number;
  quiet?: boolean;
}

export interface MatchShardsResult {
  sidecars: string[];
  countsFile: string;
  counts: Float64Array;
  stats: { shards: number; rows: number; matched: number; matches: number; badRows: number; cutShort: string[]; cutRows: number; workers: number };
}

/**
 * Completion marker of a match run (or job-array task), written last. It lists
 * the sidecars the run wrote; `balance` reads only sidecars some marker lists,
 * so the partial outputs of a killed or failed run are refused, never used.
 */
export function markerName(shard?: ShardSpec): string {
  return `match_complete${shardSuffix(shard)}.json`;
}

/** Sidecar name of a shard file. */
export function sidecarOf(shardFile: string): string {
  return `${shardStem(shardFile)}.matches.jsonl`;
}

export async function matchShards(o: MatchShardsOptions): Promise<MatchShardsResult> {
  const entries = await loadMetadata(o.metadata);
  const metadata = await metadataIdentity(o.metadata, entries.length);
  const pool = new MatchPool(entries, o.workers ?? 1);
  // Everything is written to a staging folder first and moved in at the end,
  // so a kill leaves the previous run's outputs (and marker) as they were.
  const stage = path.join(o.output, `.staging-match${shardSuffix(o.shard)}`);
  await fs.rm(stage, { recursive: true, force: true });
  await fs.mkdir(stage, { recursive: true });
  let pass;
  try {
    pass = await writeShardSidecars({
      shards: o.shards, output: stage, shard: o.shard, label: "match shards", quiet: o.quiet,
      sidecarName: sidecarOf, inflight: pool.inflight,
      lines: async (rows, shard) => {
        const ids = await pool.matchRows(rows.map((r) => r.sample.caption));
        let out = "";
        for (let i = 0; i < rows.length; i++) {
          out += `${JSON.stringify({ key: rows[i]!.sample.key, shard, row: rows[i]!.row, entries: Array.from(ids[i]!) })}\n`;
        }
        return out;
      },
    });
    await pool.finish();
  } catch (err) {
    await pool.destroy();
    throw err;
  }
  const { counts } = pool;
  const { matched, matches } = pool.stats;
  const { sidecars: staged, ...rest } = pass;
  const stats = { ...rest, matched, matches, workers: pool.workers };
  const countsName = `entry_counts${shardSuffix(o.shard)}.json`;
  const statsName = `${MATCH_STATS}${shardSuffix(o.shard)}.json`;
  await writeCounts(path.join(stage, countsName), counts);
  await writeJsonAtomic(path.join(stage, statsName), { metadata: o.metadata, metadataSha256: metadata.sha256, shardsDir: o.shards, shard: o.shard ?? null, ...stats });
  // Swap: drop the old marker (from here to the new marker, balance refuses the folder), move files in, write the marker.
  const marker = path.join(o.output, markerName(o.shard));
  await fs.rm(marker, { force: true });
  await fsyncDir(o.output);
  const names = [...staged.map((f) => path.basename(f)), countsName, statsName];
  for (const n of names) await fs.rename(path.join(stage, n), path.join(o.output, n));
  await fsyncDir(o.output);
  const sidecars = staged.map((f) => path.join(o.output, path.basename(f)));
  await writeJsonAtomic(marker, { sidecars: sidecars.map((f) => path.basename(f)), countsFile: countsName, statsFile: statsName, shard: o.shard ?? null, metadata });
  await fs.rm(stage, { recursive: true, force: true });
  return { sidecars, countsFile: path.join(o.output, countsName), counts, stats };
}

/** Stem of a shard folder's match statistics file (`match_stats[.i-of-n].json`); balance reads it for the data card. */
export const MATCH_STATS = "match_stats";

/** The match statistics files among a folder's names, sorted. */
export function matchStatsNames(names: readonly string[]): string[] {
  return names.filter((f) => /^match_stats(\.\d+-of-\d+)?\.json$/.test(f)).sort();
}

/**
 * The sidecars in a matches folder, sorted (shard order); a job-array task takes i, i+n, ...
 * Every sidecar must be listed by a completion marker: a folder holding the
 * partial outputs of a killed or failed `curate match` is refused.
 */
export async function sidecarsIn(dir: string, shard?: ShardSpec): Promise<string[]> {
  const all = await fs.readdir(dir);
  const names = all.filter((f) => f.endsWith(".matches.jsonl")).sort();
  if (names.length === 0) throw new InputError(`${dir}: no *.matches.jsonl sidecars (run \`clipts curate match\` on the shard folder first)`);
  const complete = new Set<string>();
  for (const m of all.filter((f) => /^match_complete(\.\d+-of-\d+)?\.json$/.test(f))) {
    const file = path.join(dir, m);
    let listed: unknown;
    try {
      listed = (JSON.parse(await readTextBounded(file, 256 * 2 ** 20)) as { sidecars?: unknown }).sidecars;
    } catch (err) {
      throw new InputError(`${file}: unreadable match completion marker (${(err as Error).message})`);
    }
    if (!Array.isArray(listed)) throw new InputError(`${file}: match completion marker without a sidecars list`);
    for (const n of listed) if (typeof n === "string") complete.add(n);
  }
  const partial = names.filter((n) => !complete.has(n));
  if (partial.length > 0) {
    throw new InputError(
      `${dir}: ${partial.length} sidecar(s) without a completed \`curate match\` run (first: ${partial[0]}); ` +
        `the run that wrote them did not finish (no ${markerName()} lists them): rerun \`clipts curate match\``,
    );
  }
  return names.filter((_, i) => !shard || i % shard.count === shard.index).map((f) => path.join(dir, f));
}

/** Which metadata file a match run used: its sha256 and entry count (entry ids index into it). */
export interface MetadataIdentity {
  file: string;
  sha256: string;
  entries: number;
}

export async function metadataIdentity(file: string, entries: number): Promise<MetadataIdentity> {
  return { file, sha256: await sha256File(file), entries };
}

/**
 * Refuse matches made against other metadata before any work: entry ids index
 * into the metadata, so another file (even of the same length) would balance
 * the wrong entries. `recorded` is what the match run wrote (its completion
 * marker or stats file); files from before it was recorded are not checked.
 */
export function checkSameMetadata(recorded: { sha256?: unknown; file?: unknown } | undefined, used: MetadataIdentity, where: string): void {
  if (recorded?.sha256 === undefined || recorded.sha256 === used.sha256) return;
  const was = recorded.file;
  throw new InputError(
    `${where}: matched against other metadata (${typeof was === "string" ? was : "another file"}, sha256 ${String(recorded.sha256).slice(0, 12)}…) than ${used.file} (sha256 ${used.sha256.slice(0, 12)}…); ` +
      `balance with the metadata the matches were made with, or re-run \`clipts curate match\``,
  );
}

/** Completion markers of a matches folder with the metadata each recorded. */
export async function matchMarkers(dir: string): Promise<{ file: string; metadata?: { sha256?: unknown; file?: unknown } }[]> {
  const out = [];
  for (const m of (await fs.readdir(dir)).filter((f) => /^match_complete(\.\d+-of-\d+)?\.json$/.test(f)).sort()) {
    const file = path.join(dir, m);
    try {
      out.push({ file, metadata: (JSON.parse(await readTextBounded(file, 256 * 2 ** 20)) as { metadata?: { sha256?: unknown } }).metadata });
    } catch (err) {
      throw new InputError(`${file}: unreadable match completion marker (${(err as Error).message})`);
    }
  }
  return out;
}
