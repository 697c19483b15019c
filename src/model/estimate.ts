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
  /** Activations kept for the backward pass at this batch size (rough upper-bound model). */
  activationBytes: number;
  totalBytes: number;
}

/**
 * Rough training memory: 16 bytes per parameter plus, per block and token,
 * the float32 tensors the backward pass keeps (LN outputs and statistics, q/k/v,
 * attention output, MLP pre- and post-activation: about 9·width + 3·hidden
 * values) and the attention probabilities (heads · tokens per token).
 */
export function memoryEstimate(c: ModelConfig, batchSize: number): MemoryEstimate {
  const params = countParams(c);
  const { vision: v, text: t } = towers(c);
  const perTower = (s: TowerShape) => s.layers * s.tokens * (9 * s.width + 3 * s.hidden + s.heads * s.tokens);
  const activationBytes = 4 * batchSize * (perTower(v) + perTower(t));
  const paramBytes = 16 * params;
  return { params, paramBytes, activationBytes, totalBytes: paramBytes + activationBytes };
}
