// The training loop: data -> gradients (with exact contrastive accumulation)
// -> clipping -> AdamW -> logit-scale clamp, with periodic logging and atomic
// checkpoints; SIGINT (an AbortSignal) stops after the current step and saves.
//
// The loss and gradient norm of each step stay on the device until they are
// read, all pending steps at once: at logging steps, before evaluation and
// checkpoints, at the end, and every step for an onStep observer. The read
// steps depend on the step alone, so every rank of a data-parallel run reads
// (and votes on divergence) at the same ones. On a GPU a read waits for all
// queued work, so reading every step would stall the pipeline. A NaN/Inf
// found by a read stops the run before that step's update and before any
// save; the message names the first bad step (with lazy reads, later steps'
// updates may already have used its gradients, in memory only). The weights
// themselves are checked before every save, so no checkpoint holds NaN/Inf,
// and so is the update: finite weights whose global norm grew more than
// `maxWeightNormGrowth` times since the last checked state (the run's start or
// the last save) are an exploded run (lr 1e30 gives finite weights of 5e29),
// not saved, so `latest` and pruning never move past the last good checkpoint.
import * as tf from "@tensorflow/tfjs-core";
import type { Batch } from "../data/loader.js";
import type { ClipModel } from "../model/types.js";
import { torchPeakMemory, type PeakMemory } from "../backend/index.js";
import { progress } from "../util/progress.js";
import type { AdamW } from "./adamw.js";
import { saveCheckpoint } from "../model/checkpoint.js";
import { disposeFull, type FullOptimizer } from "./zero.js";
import { clipByGlobalNorm, globalNorm } from "./grads.js";
import type { ScalarLog } from "./metrics.js";
import { lrAt, type ScheduleOptions } from "./schedule.js";
import { computeGradients, splitBatch, type Objective } from "./step.js";

// Test-only: CLIPTS_TEST_SIGNAL="STEP:SIGNAL" (e.g. "5:SIGKILL") makes the
// process send itself SIGNAL once step STEP is done (logged and saved), so
// kill-and-resume tests stop a child at a known step instead of racing it.
const testSignal = ((spec) => {
  const m = spec ? /^(\d+):(SIG[A-Z]+)$/.exec(spec) : null;
  if (spec && !m) throw new Error(`CLIPTS_TEST_SIGNAL must look like 5:SIGKILL, not "${spec}"`);
  return m ? { step: Number(m[1]), signal: m[2] as NodeJS.Signals } : null;
})(process.env.CLIPTS_TEST_SIGNAL);

/** Where batches come from; `state()` must let a new source continue exactly after the last batch returned. */
export interface BatchSource {
  next(): Promise<Batch | null>;
  state(): unknown;
  /** Rows the source skipped or lost so far (cumulative), logged with every log window. */
  counts?(): Record<string, number>;
  close?(): Promise<void>;
}

export interface LoopOptions {
  model: ClipModel;
  objective: Objective;
  optimizer: AdamW;
  source: BatchSource;
  schedule: ScheduleOptions;
  /** Steps already done (resume); the loop runs until schedule.steps. */
  startStep: number;
  accumFreq: number;
  gradClipNorm: number | null;
  /** Clamp applied to the logit scale after each update (open_clip: [0, ln 100]). */
  clampLogitScale: (model: ClipModel) => void;
  log: ScalarLog | null;
  logEvery: number;
  checkpointDir: string;
  checkpointEvery: number;
  keep: number;
  /** Refuse to save when the weights' global norm grew more than this factor since the last checked state; null = no bound. */
  maxWeightNormGrowth?: number | null;
  /** Extra JSON state saved with each checkpoint (config, seed, ...). */
  extraState?: Record<string, unknown>;
  signal?: AbortSignal;
  quiet?: boolean;
  /** Called every `evalEvery` steps with the live model; returned scalars are logged as `eval/<name>`. */
  evaluate?: (model: ClipModel, step: number) => Promise<Record<string, number>>;
  evalEvery?: number;
  /** Called after every step (tests use it to observe the run). */
  onStep?: (info: StepInfo) => void;
  /** Data-parallel hooks (src/train/distributed.ts); absent in a single-process run. */
  dist?: LoopDist;
}

export interface LoopDist {
  /** Replace the gradients by their mean over ranks (in place, disposing the old tensors). */
  reduceGradients(grads: Map<string, tf.Tensor>): void;
  /** Whether any rank wants to stop (interrupt, data exhausted), so that all ranks stop at the same step. */
  anyStop(local: boolean): boolean;
  /** Every rank's value, indexed by rank (a collective: all ranks call it together). */
  allGatherJson(value: unknown): unknown[];
  /** Only the main rank writes checkpoints. */
  isMain: boolean;
  /** ZeRO-1 (src/train/zero.ts): after each update, every owner's new weights to all ranks. */
  syncWeights?(): void;
  /** ZeRO-1: the full optimizer state for a checkpoint (a collective at save steps); the caller disposes it. */
  fullOptimizer?(): FullOptimizer;
}

export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  numTensors: number;
  numBytes: number;
}

export interface LoopResult {
  status: "done" | "interrupted" | "data-exhausted" | "diverged";
  step: number;
  lastCheckpoint: string | null;
  message?: string;
  /** Peak tensor memory of the run (see torchPeakMemory; other backends: step-end samples). */
  peak: PeakMemory;
  losses: number[];
}

export class DivergedError extends Error {}

/** A step's scalars, still on the device. */
interface PendingStep {
  step: number;
  loss: tf.Scalar;
  norm: tf.Scalar;
}

/** Pending steps are read at the latest after this many, whatever log.every says. */
const MAX_PENDING = 64;

/** Whether every weight is finite: x * 0 is 0 for finite x and NaN for NaN or ±Inf, in one read. */
function weightsFinite(model: ClipModel): boolean {
  const zero = tf.tidy(() => tf.addN([...model.params.values()].map((p) => tf.sum(tf.mul(p, 0)))));
  const ok = zero.dataSync()[0] === 0;
  zero.dispose();
  return ok;
}

/** Global L2 norm of the weights, in one read (Infinity when float32 squares overflow: an exploded run). */
function weightNorm(model: ClipModel): number {
  const sq = tf.tidy(() => tf.addN([...model.params.values()].map((p) => tf.sum(tf.square(p)))));
  const v = sq.dataSync()[0]!;
  sq.dispose();
  return Math.sqrt(v);
}

function logitScaleOf(model: ClipModel): number {
  const p = model.params.get("logit_scale");
  return p ? Math.exp(p.dataSync()[0]!) : NaN;
}

export async function trainLoop(o: LoopOptions): Promise<LoopResult> {
  const total = o.schedule.steps;
  let step = o.startStep;
  let lastCheckpoint: string | null = null;
  // Backends other than torch: the largest step-end sample of tf.memory().
  let sampledPeak = 0;
  // torch: the addon's own peak, read (and restarted) per log window.
  let torchPeak: PeakMemory | null = null;
  const windowPeak = (): { peak_bytes?: number; cuda_peak_bytes?: number } => {
    const p = torchPeakMemory(true);
    if (!p) return {};
    const cuda = p.cudaBytes !== undefined ? { cudaBytes: Math.max(torchPeak?.cudaBytes ?? 0, p.cudaBytes) } : {};
    torchPeak = { bytes: Math.max(torchPeak?.bytes ?? 0, p.bytes), sampled: false, ...cuda };
    return { peak_bytes: p.bytes, ...(p.cudaBytes !== undefined ? { cuda_peak_bytes: p.cudaBytes } : {}) };
  };
  torchPeakMemory(true); // the first window starts with the loop
  const losses: number[] = [];
  // Norm of the last weights that passed a check: the run's start, then each saved checkpoint.
  const growth = o.maxWeightNormGrowth ?? null;
  let checkedNorm = growth ? weightNorm(o.model) : NaN;
  let checkedAt = o.startStep > 0 ? `the resumed step ${o.startStep}` : "the start of the run";
  const bar = progress("train", total, { unit: "step", start: step, fields: ["loss", "img_s"], quiet: o.quiet });
  // Every rank runs save() at the same steps (the ranks stop together), so it
  // can gather: each rank reads its own rows, and an exact resume needs every
  // rank's loader position (src/train/distributed-checkpoint.ts reads them).
  const save = async () => {
    // Finite losses and norms can still end in an overflowing update, so the
    // weights themselves are checked (on every rank, so that all stop together).
    const bad = !weightsFinite(o.model);
    if (o.dist ? o.dist.anyStop(bad) : bad) {
      throw new DivergedError(`step ${step}: the weights are not finite; not saved` + (lastCheckpoint ? `, last good checkpoint ${lastCheckpoint}` : ""));
    }
    const norm = growth ? weightNorm(o.model) : NaN;
    const exploded = growth !== null && !(norm <= checkedNorm * growth);
    if (o.dist ? o.dist.anyStop(exploded) : exploded) {
      throw new DivergedError(
        `step ${step}: the weights' norm ${norm.toExponential(3)} is over ${growth}x that at ${checkedAt} (${checkedNorm.toExponential(3)}): ` +
          `the update diverged; not saved (checkpoint.max_weight_norm_growth)` + (lastCheckpoint ? `, last good checkpoint ${lastCheckpoint}` : ""),
      );
    }
    const loader = o.source.state();
    const loaderStates = o.dist?.allGatherJson(loader);
    const full = o.dist?.fullOptimizer?.();
    if (o.dist && !o.dist.isMain) {
      if (full) disposeFull(full);
      return;
    }
    const dist = loaderStates ? { worldSize: loaderStates.length, loaderStates } : {};
    try {
      lastCheckpoint = await saveCheckpoint(
        o.checkpointDir,
        o.model.params,
        full ?? o.optimizer,
        { step, state: { ...o.extraState, loader, ...dist } },
        o.keep,
      );
    } finally {
      if (full) disposeFull(full);
    }
    checkedNorm = norm;
    checkedAt = `step ${step}`;
  };
  const pending: PendingStep[] = [];
  let lastNorm = NaN;
  // Reads every pending step's loss and norm in one transfer; throws
  // DivergedError at the first non-finite one (see the top of this file).
  const readPending = () => {
    if (pending.length === 0) return;
    const values = tf.tidy(() => tf.stack(pending.flatMap((p) => [p.loss, p.norm])).dataSync());
    const steps = pending.splice(0);
    for (const p of steps) tf.dispose([p.loss, p.norm]);
    steps.forEach((p, i) => {
      const loss = values[2 * i]!, norm = values[2 * i + 1]!;
      // Decided together: every rank must stop at the same step (save() is a collective).
      const bad = !Number.isFinite(loss) || !Number.isFinite(norm);
      if (o.dist ? o.dist.anyStop(bad) : bad) {
        const what = !Number.isFinite(loss) ? `loss is ${loss}` : !Number.isFinite(norm) ? `gradient norm is ${norm}` : "another rank's loss is not finite";
        const last = steps[steps.length - 1]!.step;
        const when = p.step === last ? "stopped before the update" : `stopped before step ${last}'s update (steps ${p.step}-${last - 1} were applied in memory only)`;
        throw new DivergedError(`step ${p.step}: ${what}; ${when}` + (lastCheckpoint ? `, last good checkpoint ${lastCheckpoint}` : ""));
      }
      losses.push(loss);
      lastNorm = norm;
    });
  };
  let status: LoopResult["status"] = "done";
  let message: string | undefined;
  let windowStart = performance.now();
  let windowSamples = 0;
  let windowWait = 0;
  try {
    while (step < total) {
      const aborted = o.signal?.aborted ?? false;
      if (o.dist ? o.dist.anyStop(aborted) : aborted) {
        status = "interrupted";
        break;
      }
      const t0 = performance.now();
      const batch = await o.source.next();
      const wait = (performance.now() - t0) / 1000;
      const exhausted = o.dist ? o.dist.anyStop(!batch) : !batch;
      if (exhausted || !batch) {
        if (batch) tf.dispose([batch.images, batch.tokens]);
        status = "data-exhausted";
        message = `the data ran out after ${step} steps (set data.resampled: true or fewer train.steps)`;
        break;
      }
      const lr = lrAt(step, o.schedule);
      const micro = splitBatch(batch.images, batch.tokens, o.accumFreq);
      const { loss, grads } = computeGradients(o.model, micro, o.objective);
      if (o.accumFreq > 1) for (const m of micro) tf.dispose([m.images, m.tokens]);
      tf.dispose([batch.images, batch.tokens]);
      let norm: tf.Scalar | null = null;
      let queued = false;
      try {
        o.dist?.reduceGradients(grads);
        norm = o.gradClipNorm ? clipByGlobalNorm(grads, o.gradClipNorm) : globalNorm(grads);
        const next = step + 1;
        pending.push({ step: next, loss, norm });
        queued = true;
        const logStep = next % o.logEvery === 0 || next === total;
        const evalStep = !!o.evalEvery && next % o.evalEvery === 0;
        const logNow = !!o.log && logStep;
        const evalNow = !!o.evaluate && evalStep;
        const saveNow = o.checkpointEvery > 0 && next % o.checkpointEvery === 0;
        // Values are read (a host sync) only at these steps. They depend on the
        // step alone, not on whether this rank logs or evaluates (rank 0 only),
        // so every rank casts readPending's anyStop votes at the same steps.
        const readNow = o.onStep || logStep || evalStep || saveNow || pending.length >= MAX_PENDING;
        if (readNow) readPending();
        o.optimizer.apply(grads, lr);
        o.dist?.syncWeights?.();
        o.clampLogitScale(o.model);
        step = next;
        const mem = tf.memory();
        sampledPeak = Math.max(sampledPeak, mem.numBytes);
        // With an observer every step was read above, so its values are known.
        o.onStep?.({ step, loss: losses[losses.length - 1]!, lr, gradNorm: lastNorm, numTensors: mem.numTensors, numBytes: mem.numBytes });
        windowSamples += batch.keys.length;
        windowWait += wait;
        if (logNow) {
          const secs = (performance.now() - windowStart) / 1000;
          o.log!.write(step, {
            loss: losses[losses.length - 1]!,
            lr,
            logit_scale: logitScaleOf(o.model),
            grad_norm: lastNorm,
            samples_per_s: windowSamples / secs,
            data_wait_s: windowWait,
            mem_bytes: mem.numBytes,
            mem_tensors: mem.numTensors,
            // Peak of this log window, so a run's memory can be seen to stay flat.
            ...windowPeak(),
            ...(o.source.counts?.() ?? {}),
          });
          windowStart = performance.now();
          windowSamples = 0;
          windowWait = 0;
        }
        const shown = losses.length ? losses[losses.length - 1]!.toFixed(4) : "-";
        bar.update(step, { loss: shown, img_s: (batch.keys.length / ((performance.now() - t0) / 1000)).toFixed(1) });
      } finally {
        for (const g of grads.values()) g.dispose();
        if (!queued) tf.dispose([loss, ...(norm ? [norm] : [])]);
      }
      if (o.evaluate && o.evalEvery && step % o.evalEvery === 0) {
        const scores = await o.evaluate(o.model, step);
        o.log?.write(step, scores, "eval");
      }
      if (o.checkpointEvery > 0 && step % o.checkpointEvery === 0 && step < total) await save();
      if (testSignal && step === testSignal.step) process.kill(process.pid, testSignal.signal);
    }
    // Final save (end of run, SIGINT, or data exhausted) if anything changed.
    readPending();
    if (step > o.startStep) await save();
  } catch (err) {
    if (!(err instanceof DivergedError)) throw err;
    status = "diverged";
    message = err.message;
  } finally {
    for (const p of pending) tf.dispose([p.loss, p.norm]);
    bar.stop();
  }
  windowPeak();
  return { status, step, lastCheckpoint, message, peak: torchPeak ?? { bytes: sampledPeak, sampled: true }, losses };
}
