// `clipts curate match`: stream a JSONL file of {key, text}, write
// {key, entries} per line in input order, plus per-shard entry counts and
// stats. Memory is the automaton plus the count array and a few batches in
// flight; texts are never all held.
//
// Workers: the batches go through MatchPool (match-rows.ts), which returns
// them in order, so output is identical for any worker count; the stats record
// the workers that ran (`workers`, and `workerNote` when fewer than asked).
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
import { fileSize, readLineBatches, type LineBatch, type ShardSpec } from "../lines.js";
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
  workerNote?: string;
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

/** Parse "i/n" (0-based i). */
export function parseShard(spec: string): ShardSpec {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  if (!m) throw new InputError(`--shard must look like i/n (0-based), got "${spec}"`);
  return checkShard({ index: Number(m[1]), count: Number(m[2]) }, "--shard");
}

export function checkShard(s: ShardSpec, what: string): ShardSpec {
  if (!(s.count >= 1) || !Number.isInteger(s.count) || !Number.isInteger(s.index) || s.index < 0 || s.index >= s.count) {
    throw new InputError(`${what}: shard index ${s.index} is not in 0..${s.count - 1}`);
  }
  return s;
}

/**
 * Shard index from a job array: SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN
 * when set, so --array=1-10 works) or JOB_COMPLETION_INDEX (Kubernetes).
 */
export function shardFromEnv(count: number, env: NodeJS.ProcessEnv = process.env): ShardSpec {
  const slurm = env.SLURM_ARRAY_TASK_ID, k8s = env.JOB_COMPLETION_INDEX;
  let index: number;
  if (slurm !== undefined) index = Number(slurm) - Number(env.SLURM_ARRAY_TASK_MIN ?? 0);
  else if (k8s !== undefined) index = Number(k8s);
  else throw new InputError("--shard-count needs SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX in the environment (or use --shard i/n)");
  return checkShard({ index, count }, "--shard-count");
}

/** The job-array part from `--shard i/n` or `--shard-count n` (index from the environment); undefined for neither. */
export function shardFromOptions(shard: string | undefined, shardCount: number | undefined): ShardSpec | undefined {
  if (shard !== undefined && shardCount !== undefined) throw new InputError("give --shard or --shard-count, not both");
  if (shard !== undefined) return parseShard(shard);
  return shardCount !== undefined ? shardFromEnv(shardCount) : undefined;
}

/** Output path for a shard: "{shard}" is replaced, else "-i-of-n" goes before the extension. */
export function shardPath(file: string, shard?: ShardSpec): string {
  if (!shard || shard.count === 1) return file.replace("{shard}", "0");
  const w = String(shard.count - 1).length;
  const id = String(shard.index).padStart(w, "0");
  if (file.includes("{shard}")) return file.replace("{shard}", id);
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}-${id}-of-${shard.count}${ext}`;
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
    shard: opts.shard ?? null, workers: pool.workers, ...(pool.note ? { workerNote: pool.note } : {}), ...stats,
    buildSeconds, seconds: (performance.now() - t0) / 1000,
  };
  await writeCounts(side.counts, counts);
  await writeJsonAtomic(side.stats, full);
  return { output, countsFile: side.counts, statsFile: side.stats, counts, stats: full };
}
