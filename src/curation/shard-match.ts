// MetaCLIP matching on Arrow shards. Each shard gets a sidecar of matches keyed
// by shard and row (`<shard>.matches.jsonl`, one line per readable row:
// {key, shard, row, entries}); `balance` reads those sidecars and writes the
// kept subset as a selection ({shard file: row ids}) the loader honours, so no
// image bytes are copied. Shards are the unit of a job array: task i of n
// matches shards i, i+n, i+2n, ... and writes its own count file.
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { InputError } from "../util/errors.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { writeCounts } from "./counts.js";
import type { ShardSpec } from "./lines.js";
import { buildMatcher } from "./matcher.js";
import { loadMetadata } from "./metadata.js";
import { shardSuffix, writeShardSidecars } from "./shard-sidecars.js";

export interface MatchShardsOptions {
  metadata: string;
  /** Shard folder (with manifest.json). */
  shards: string;
  /** Folder for the sidecars, `entry_counts.json` and `match_stats.json`. */
  output: string;
  /** Job-array part: this task matches shards index, index+count, ... */
  shard?: ShardSpec;
  quiet?: boolean;
}

export interface MatchShardsResult {
  sidecars: string[];
  countsFile: string;
  counts: Float64Array;
  stats: { shards: number; rows: number; matched: number; matches: number; badRows: number; cutShort: string[] };
}

/** Sidecar name of a shard file. */
export function sidecarOf(shardFile: string): string {
  return `${path.basename(shardFile, ".arrow")}.matches.jsonl`;
}

export async function matchShards(o: MatchShardsOptions): Promise<MatchShardsResult> {
  const entries = await loadMetadata(o.metadata);
  const matcher = buildMatcher(entries);
  const counts = new Float64Array(entries.length);
  let matched = 0;
  let matches = 0;
  const pass = await writeShardSidecars({
    shards: o.shards, output: o.output, shard: o.shard, label: "match shards", quiet: o.quiet,
    sidecarName: sidecarOf,
    line: (row, sample, shard) => {
      const ids = matcher.match(sample.caption);
      for (const e of ids) counts[e]!++;
      if (ids.length > 0) matched++;
      matches += ids.length;
      return `${JSON.stringify({ key: sample.key, shard, row, entries: Array.from(ids) })}\n`;
    },
  });
  const { sidecars, ...rest } = pass;
  const stats = { ...rest, matched, matches };
  const countsFile = path.join(o.output, `entry_counts${shardSuffix(o.shard)}.json`);
  await writeCounts(countsFile, counts);
  await writeJsonAtomic(path.join(o.output, `match_stats${shardSuffix(o.shard)}.json`), { metadata: o.metadata, shardsDir: o.shards, shard: o.shard ?? null, ...stats });
  return { sidecars, countsFile, counts, stats };
}

/** The sidecars in a matches folder, sorted (shard order); a job-array task takes i, i+n, ... */
export async function sidecarsIn(dir: string, shard?: ShardSpec): Promise<string[]> {
  const names = (await fs.readdir(dir)).filter((f) => f.endsWith(".matches.jsonl")).sort();
  if (names.length === 0) throw new InputError(`${dir}: no *.matches.jsonl sidecars (run \`clipts curate match\` on the shard folder first)`);
  return names.filter((_, i) => !shard || i % shard.count === shard.index).map((f) => path.join(dir, f));
}

/** True when `p` is a shard folder (has manifest.json). */
export function isShardDir(p: string): boolean {
  return existsSync(path.join(p, "manifest.json"));
}
