// Analytic cost model for --dry-run: FLOPs per sample (matmuls and attention,
// counted as 2 FLOPs per multiply-add) and a rough memory estimate.
import type { ModelConfig } from "../model/types.js";

function transformerFlops(tokens: number, width: number, layers: number, mlpRatio: number): number {
  const hidden = Math.round(width * mlpRatio);
  const perLayer =
    2 * tokens * width * 3 * width + // qkv projection
    2 * 2 * tokens * tokens * width + // scores and attention-weighted values
    2 * tokens * width * width + // output projection
    2 * 2 * tokens * width * hidden; // MLP
  return layers * perLayer;
}

export function visionTokens(c: ModelConfig): number {
  const grid = (c.vision.imageSize / c.vision.patchSize) ** 2;
  return grid + (c.vision.pool === "tok" ? 1 : 0);
}

/** Forward FLOPs per image-text pair. */
export function forwardFlops(c: ModelConfig): { image: number; text: number; total: number } {
  const v = c.vision;
  const nPatch = (v.imageSize / v.patchSize) ** 2;
  const image =
    2 * nPatch * 3 * v.patchSize * v.patchSize * v.width + transformerFlops(visionTokens(c), v.width, v.layers, v.mlpRatio) + 2 * v.width * c.embedDim;
  const t = c.text;
  const text = transformerFlops(t.contextLength, t.width, t.layers, t.mlpRatio) + 2 * t.width * c.embedDim;
  return { image, text, total: image + text };
}

/** Training FLOPs per sample: forward + backward (2x forward); accumulation adds a no-grad forward. */
export function trainFlopsPerSample(c: ModelConfig, accumFreq: number): number {
  const f = forwardFlops(c).total;
  return f * (accumFreq > 1 ? 4 : 3);
}

function towerActivationFloats(tokens: number, width: number, layers: number, heads: number, mlpRatio: number): number {
  // Tensors the tape keeps per block: LN outputs, qkv, scores + softmax, attention
  // output, projections, residuals, MLP hidden pre/post activation.
  const hidden = width * mlpRatio;
  return layers * (tokens * (8 * width + 3 * hidden) + 2 * heads * tokens * tokens);
}

export interface MemoryEstimate {
  paramsBytes: number;
  /** Weights + gradients + two AdamW moments. */
  stateBytes: number;
  activationBytes: number;
  lossBytes: number;
  totalBytes: number;
}

export function memoryEstimate(c: ModelConfig, params: number, batchSize: number, accumFreq: number): MemoryEstimate {
  const micro = batchSize / accumFreq;
  const v = c.vision;
  const t = c.text;
  const perSample =
    towerActivationFloats(visionTokens(c), v.width, v.layers, v.heads, v.mlpRatio) +
    towerActivationFloats(t.contextLength, t.width, t.layers, t.heads, t.mlpRatio);
  const paramsBytes = params * 4;
  const stateBytes = paramsBytes * 4;
  const activationBytes = perSample * micro * 4;
  // Similarity matrix with its softmax/sigmoid intermediates (~4 B x B) plus cached features.
  const lossBytes = 4 * batchSize * batchSize * 4 + 2 * batchSize * c.embedDim * 4;
  return { paramsBytes, stateBytes, activationBytes, lossBytes, totalBytes: stateBytes + activationBytes + lossBytes };
}

export function formatBytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
}
