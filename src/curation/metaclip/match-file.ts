// `clipts curate match`: stream a JSONL file of {key, text}, write
// {key, entries} per line in input order, plus per-shard entry counts and
// stats. Memory is the automaton plus the count array and a few batches in
// flight; texts are never all held.
//
// Workers: the batches go through MatchPool (match-rows.ts), which returns
// them in order, so output is identical for any worker count; the stats record
// the workers that ran (`workers`).
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { AtomicWriter, writeJsonAtomic } from "../../util/atomic.js";
import { InputError } from "../../util/errors.js";
import { sha256File } from "../../util/sha256.js";
import { progress } from "../../util/progress.js";
import { buildMatcher } from "./matcher.js";
import { loadMetadata } from "./metadata.js";
import { fileSize, readLineBatches } from "../lines.js";
import { shardPath, type ShardSpec } from "../../util/job-array.js";
import type { MatchStats } from "./match-batch.js";
import { MatchPool } from "./match-rows.js";
import { writeCounts } from "./counts.js";

export interface MatchOptions {
  metadata: string;
  input: string;
  output: string;
  workers?: number;
  shard?: ShardSpec;
  batchLines?: number;
  quiet?: boolean;
}

export interface MatchFileStats extends MatchStats {
  input: string;
  output: string;
  counts: string;
  metadata: string;
  /** The metadata file's sha256: balance refuses these matches with any other metadata. */
  metadataSha256: string;
  entries: number;
  shard: ShardSpec | null;
  workers: number;
  buildSeconds: number;
  seconds: number;
}

export interface MatchResult {
  output: string;
  countsFile: string;
  statsFile: string;
  counts: Float64Array;
  stats: MatchFileStats;
}

/** Files written beside a matches file: its counts and stats. */
export function sidecarPaths(output: string): { counts: string; stats: string } {
  const stem = output.endsWith(".jsonl") ? output.slice(0, -6) : output;
  return { counts: `${stem}.counts.json`, stats: `${stem}.stats.json` };
}

export async function matchFile(opts: MatchOptions): Promise<MatchResult> {
  const t0 = performance.now();
  const entries = await loadMetadata(opts.metadata);
  const size = await fileSize(opts.input);
  const output = shardPath(opts.output, opts.shard);
  const side = sidecarPaths(output);
  const tb = performance.now();
  const pool = new MatchPool(entries, opts.workers ?? os.availableParallelism());
  const buildSeconds = (performance.now() - tb) / 1000;

  const writer = new AtomicWriter(output);
  const bar = progress(`match${opts.shard ? ` ${opts.shard.index}/${opts.shard.count}` : ""}`, size, { unit: "B", quiet: opts.quiet });
  try {
    // Results are written in batch order.
    const inflight: Promise<string>[] = [];
    for await (const batch of readLineBatches(opts.input, { shard: opts.shard, batchLines: opts.batchLines })) {
      inflight.push(pool.matchLines(batch));
      if (inflight.length >= pool.inflight) await writer.write(await inflight.shift()!);
      bar.update(batch.bytesDone);
    }
    while (inflight.length) await writer.write(await inflight.shift()!);
    await pool.finish();
    await writer.commit();
  } catch (err) {
    await writer.abort();
    await pool.destroy();
    throw err;
  } finally {
    bar.stop();
  }
  const { counts, stats } = pool;

  const full: MatchFileStats = {
    input: opts.input, output, counts: side.counts, metadata: opts.metadata, metadataSha256: await sha256File(opts.metadata), entries: entries.length,
    shard: opts.shard ?? null, workers: pool.workers, ...stats,
    buildSeconds, seconds: (performance.now() - t0) / 1000,
  };
  await writeCounts(side.counts, counts);
  await writeJsonAtomic(side.stats, full);
  return { output, countsFile: side.counts, statsFile: side.stats, counts, stats: full };
}
