// Job arrays: a task's part of the work (`--shard i/n`, or `--shard-count n`
// with the index from SLURM or Kubernetes) and the output path of that part.
// Every stage that splits its work over a job array parses it here.
import path from "node:path";
import { InputError } from "./errors.js";

/** Part `index` (0-based) of `count`. */
export interface ShardSpec {
  index: number;
  count: number;
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
