// Cost estimates for planning runs (--dry-run): FLOPs per sample and memory.
import { countParams, mlpHidden } from "./params.js";
import type { ModelConfig } from "./types.js";

interface TowerShape { tokens: number; width: number; hidden: number; layers: number; heads: number }

function towers(c: ModelConfig): { vision: TowerShape; text: TowerShape } {
  const v = c.vision;
  const grid = (v.imageSize / v.patchSize) ** 2;
  const timm = (v.layout ?? "open_clip") === "timm";
  return {
    vision: { tokens: grid + (timm ? 0 : 1), width: v.width, hidden: mlpHidden(v.width, v.mlpRatio), layers: v.layers, heads: v.heads },
    text: { tokens: c.text.contextLength, width: c.text.width, hidden: mlpHidden(c.text.width, c.text.mlpRatio), layers: c.text.layers, heads: c.text.heads },
  };
}

/** Multiply-accumulates of one transformer block over n tokens. */
function blockMacs(t: TowerShape): number {
  const { tokens: n, width: w, hidden: h } = t;
  return n * w * 3 * w + n * w * w + 2 * n * w * h + 2 * n * n * w;
}

/**
 * Matmul FLOPs (2 per multiply-add) of one sample's forward pass: patch
 * embedding, blocks, pooling and projections. Elementwise ops are ignored.
 */
export function forwardFlopsPerSample(c: ModelConfig): number {
  const { vision: v, text: t } = towers(c);
  const p = c.vision.patchSize;
  const grid = (c.vision.imageSize / p) ** 2;
  let macs = grid * 3 * p * p * v.width + v.layers * blockMacs(v) + t.layers * blockMacs(t);
  if (c.vision.pool === "map") macs += v.width * v.width + v.tokens * v.width * 2 * v.width + 2 * v.tokens * v.width + v.width * v.width + 2 * v.width * v.hidden;
  else macs += v.width * c.embedDim;
  macs += t.width * c.embedDim;
  return 2 * macs;
}

/** Training FLOPs per sample: forward + backward ≈ 3 × forward. */
export function flopsPerSample(c: ModelConfig): number {
  return 3 * forwardFlopsPerSample(c);
}

export interface MemoryEstimate {
  params: number;
  /** float32 weights + gradients + two Adam moments (16 bytes per parameter). */
  paramBytes: number;
  /** Activations kept for the backward pass at this batch size (see gpuMemory). */
  activationBytes: number;
  totalBytes: number;
}

/**
 * One process's float32 training memory at `batchSize` (no data parallelism,
 * no checkpointing): gpuMemory's model with a world of one, so the dry-run's
 * summary line and its per-GPU table count the same things.
 */
export function memoryEstimate(c: ModelConfig, batchSize: number): MemoryEstimate {
  const m = gpuMemory(c, { globalBatch: batchSize, worldSize: 1, accumFreq: 1, bf16: false, gradCheckpointing: false, zero1: false });
  const paramBytes = m.weights + m.grads + m.moments;
  return { params: countParams(c), paramBytes, activationBytes: m.activations, totalBytes: paramBytes + m.activations };
}

export interface GpuMemoryOptions {
  /** Global batch, split evenly over `worldSize` GPUs and then into `accumFreq` micro-batches. */
  globalBatch: number;
  worldSize: number;
  accumFreq: number;
  bf16: boolean;
  gradCheckpointing: boolean;
  /** ZeRO stage 1: AdamW moments split over the ranks. */
  zero1: boolean;
}

export interface GpuMemory {
  /** float32 weights (4 B/param) and their gradients (4 B/param). */
  weights: number;
  grads: number;
  /** AdamW's two float32 moments (8 B/param), divided by the world size under ZeRO-1. */
  moments: number;
  /** bf16 copies of the weights that the backward keeps under autocast (2 B/param). */
  castWeights: number;
  /** Activations kept for the backward at one micro-batch. */
  activations: number;
  /** Local loss: this rank's rows against the gathered batch, both directions. */
  loss: number;
  total: number;
}

/**
 * Training memory per GPU of a data-parallel run (an estimate, for choosing
 * options before a run; `clipts train` reports the measured peak). What one
 * residual block keeps for its backward, per token (the torch backend's fused
 * block, SDPA attention so no probability matrix): ln_1 out, qkv (3w),
 * attention out and its merged copy, x1, ln_2 out (w each) and the MLP's fc
 * and GELU outputs (h each): 8w + 2h float32 values; under bf16 autocast the
 * linear and attention outputs and the linear inputs are bf16 and only x1
 * stays float32: 2·(7w + 2h) + 4w bytes. With gradient checkpointing a block
 * keeps only its float32 input (4w bytes per token) and one block's full set
 * lives during its recompute. The local loss holds [b, B] logits, their
 * softmax and gradient, for both directions (4 B each).
 */
export function gpuMemory(c: ModelConfig, o: GpuMemoryOptions): GpuMemory {
  const p = countParams(c);
  const b = o.globalBatch / o.worldSize / o.accumFreq;
  const { vision, text } = towers(c);
  const perToken = (s: TowerShape) => (o.bf16 ? 2 * (7 * s.width + 2 * s.hidden) + 4 * s.width : 4 * (8 * s.width + 2 * s.hidden));
  const tower = (s: TowerShape) =>
    o.gradCheckpointing ? b * s.tokens * (s.layers * 4 * s.width + perToken(s)) : b * s.tokens * s.layers * perToken(s);
  const weights = 4 * p, grads = 4 * p, moments = (8 * p) / (o.zero1 ? o.worldSize : 1), castWeights = o.bf16 ? 2 * p : 0;
  const activations = tower(vision) + tower(text);
  // clipts' exact accumulation scores each micro-batch against the whole batch's features.
  const loss = 2 * 3 * 4 * b * o.globalBatch;
  return { weights, grads, moments, castWeights, activations, loss, total: weights + grads + moments + castWeights + activations + loss };
}
