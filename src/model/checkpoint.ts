// Training checkpoints: one safetensors file per save holding the model weights
// under open_clip's state-dict names, the AdamW moments under
// `optimizer.exp_avg.<name>` / `optimizer.exp_avg_sq.<name>`, and the step,
// RNG and loader state as JSON strings in `__metadata__`. The file is written
// atomically (temp + rename) and only then does the `latest` pointer move, so
// a crash at any moment leaves the previous checkpoint intact and pointed to.
import { existsSync, promises as fs, statSync } from "node:fs";
import { MAX_POINTER_BYTES, readFileBoundedSync } from "../util/bounded-read.js";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { writeFileAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { readSafetensors, writeSafetensors, type STTensor } from "./safetensors.js";
import { assignWeights } from "./weights-file.js";

export const CHECKPOINT_FORMAT = "clipts-checkpoint-1";
const EXP_AVG = "optimizer.exp_avg.";
const EXP_AVG_SQ = "optimizer.exp_avg_sq.";
const NAME_RE = /^step-(\d+)\.safetensors$/;

export interface CheckpointState {
  /** Optimizer steps completed. */
  step: number;
  /** Anything JSON-serializable the run needs to continue exactly (RNG, loader, counters). */
  state: Record<string, unknown>;
}

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, "0")}.safetensors`;
}

function f32(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/** Save params (+ optimizer) and state; update `latest`; prune to the newest `keep` (0 = all) and drop stale temp files. */
export async function saveCheckpoint(
  dir: string,
  params: Map<string, tf.Variable>,
  optimizer: { step: number; expAvg: Map<string, tf.Tensor>; expAvgSq: Map<string, tf.Tensor> } | null,
  ck: CheckpointState,
  keep = 0,
): Promise<string> {
  const tensors: Parameters<typeof writeSafetensors>[1] = [];
  for (const [name, p] of params) tensors.push({ name, shape: p.shape, dtype: "F32", data: () => f32(p) });
  if (optimizer) {
    for (const [name, m] of optimizer.expAvg) tensors.push({ name: EXP_AVG + name, shape: m.shape, dtype: "F32", data: () => f32(m) });
    for (const [name, v] of optimizer.expAvgSq) tensors.push({ name: EXP_AVG_SQ + name, shape: v.shape, dtype: "F32", data: () => f32(v) });
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    step: String(ck.step),
    optimizer_step: String(optimizer?.step ?? 0),
    state: JSON.stringify(ck.state),
  };
  const file = path.join(dir, checkpointName(ck.step));
  await writeSafetensors(file, tensors, metadata);
  await writeFileAtomic(path.join(dir, "latest"), checkpointName(ck.step) + "\n");
  await prune(dir, keep);
  return file;
}

async function prune(dir: string, keep: number): Promise<void> {
  const latest = readLatest(dir);
  const files = await fs.readdir(dir);
  // Temp files of a process killed mid-save (atomic.ts names them .<target>.tmp-<pid>-<time>).
  for (const f of files) {
    const m = /^\.step-\d+\.safetensors\.tmp-(\d+)-/.exec(f);
    if (m && Number(m[1]) !== process.pid) await fs.rm(path.join(dir, f), { force: true });
  }
  if (keep <= 0) return;
  const steps = files.filter((f) => NAME_RE.test(f)).sort();
  for (const f of steps.slice(0, Math.max(0, steps.length - keep))) {
    if (f !== latest) await fs.rm(path.join(dir, f), { force: true });
  }
}

/** Resolve `latest` (in `dir`), a checkpoint folder, or a file path to a checkpoint file. */
export function resolveCheckpoint(ref: string, dir: string, flag = "--resume"): string {
  const folder = ref === "latest" ? dir : ref;
  if (ref === "latest" || (existsSync(folder) && statSync(folder).isDirectory())) {
    const ptr = path.join(folder, "latest");
    if (!existsSync(ptr)) throw new InputError(`${flag} ${ref}: no checkpoint pointer ${ptr}`);
    const file = path.join(folder, readLatest(folder));
    checkCheckpointFile(file, flag);
    return file;
  }
  if (!existsSync(ref)) throw new InputError(`${flag} ${ref}: no such checkpoint file`);
  checkCheckpointFile(ref, flag);
  return ref;
}

/**
 * The checkpoint file name in `dir/latest`: a bounded read of a regular file
 * holding one bare `step-N.safetensors` name, so a pointer to ../../dev/zero
 * (or any other path) is refused, naming the pointer.
 */
export function readLatest(dir: string): string {
  const ptr = path.join(dir, "latest");
  const name = readFileBoundedSync(ptr, MAX_POINTER_BYTES, "checkpoint pointer").toString("utf8").trim();
  if (!NAME_RE.test(name)) throw new InputError(`${ptr}: must hold a checkpoint file name like step-00000010.safetensors, got ${JSON.stringify(name.slice(0, 80))}`);
  return name;
}

/** A checkpoint must be a regular file (not a device or FIFO); the reader checks its header and offsets. */
function checkCheckpointFile(file: string, flag: string): void {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new InputError(`${flag} ${file}: no such checkpoint file`);
  }
  if (!st.isFile()) throw new InputError(`${flag} ${file}: a checkpoint must be a regular file`);
}

export interface LoadedCheckpoint extends CheckpointState {
  file: string;
  optimizerStep: number;
  weights: Map<string, STTensor>;
  expAvg: Map<string, STTensor>;
  expAvgSq: Map<string, STTensor>;
}

export async function loadCheckpoint(file: string): Promise<LoadedCheckpoint> {
  const { tensors, metadata } = await readSafetensors(file);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new InputError(`${file}: not a clipts checkpoint (format ${metadata.format ?? "missing"})`);
  }
  const weights = new Map<string, STTensor>();
  const expAvg = new Map<string, STTensor>();
  const expAvgSq = new Map<string, STTensor>();
  for (const [name, t] of tensors) {
    if (name.startsWith(EXP_AVG_SQ)) expAvgSq.set(name.slice(EXP_AVG_SQ.length), t);
    else if (name.startsWith(EXP_AVG)) expAvg.set(name.slice(EXP_AVG.length), t);
    else weights.set(name, t);
  }
  return {
    file,
    step: Number(metadata.step),
    optimizerStep: Number(metadata.optimizer_step ?? 0),
    state: JSON.parse(metadata.state ?? "{}") as Record<string, unknown>,
    weights,
    expAvg,
    expAvgSq,
  };
}

/** What a checkpoint restores into an optimizer (train's AdamW): its moments, step and ZeRO-1 ownership. */
export interface OptimizerMoments {
  step: number;
  expAvg: Map<string, tf.Variable>;
  expAvgSq: Map<string, tf.Variable>;
  /** Whether this rank holds the moments of a parameter (all of them without ZeRO-1). */
  owns(name: string): boolean;
}

/** Restore params and optimizer moments from a loaded checkpoint. */
export function restoreCheckpoint(ck: LoadedCheckpoint, params: Map<string, tf.Variable>, optimizer: OptimizerMoments | null): void {
  assignWeights(ck.file, "weight", params, ck.weights);
  if (optimizer) {
    // A ZeRO-1 rank takes its own share of the full moments (any world size re-shards).
    const mine = (m: Map<string, STTensor>) => new Map([...m].filter(([n]) => optimizer.owns(n) || !params.has(n)));
    assignWeights(ck.file, "optimizer moment", optimizer.expAvg, mine(ck.expAvg));
    assignWeights(ck.file, "optimizer moment", optimizer.expAvgSq, mine(ck.expAvgSq));
    optimizer.step = ck.optimizerStep;
  }
}
