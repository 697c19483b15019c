// Batched embedding of texts and images with a ClipModel, with progress bars
// and a decode/model time split. Images are decoded a window ahead (sharp
// works on libuv threads while the model runs on this one) and kept in source
// order; an image that cannot be read or decoded is skipped and counted.
import * as tf from "@tensorflow/tfjs-core";
import type { ClipModel } from "./types.js";
import { progress } from "../util/progress.js";

/** What eval needs from a tokenizer (src/text's TextTokenizer fits). */
export interface EvalTokenizer {
  readonly contextLength: number;
  /** Rows of `contextLength` ids, row-major `[texts.length, contextLength]`. */
  tokenize(texts: string[], contextLength?: number): Int32Array;
}

export type DecodeResult = { ok: true; data: Float32Array } | { ok: false; reason: string; message: string };

/** Encoded image bytes -> normalized float32 HWC pixels at the model's size (the loader's eval transform). */
export type DecodeFn = (bytes: Uint8Array) => Promise<DecodeResult>;

/** Reads one image's encoded bytes (a file, a shard cell). */
export type ImageThunk = () => Promise<Uint8Array>;

export interface EmbedOptions {
  batchSize?: number;
  /** Progress bar label; no bar when quiet. */
  label?: string;
  quiet?: boolean;
}

export interface SkipCounts {
  count: number;
  byReason: Record<string, number>;
  /** First few (source index, reason, message). */
  examples: { index: number; reason: string; message: string }[];
}

export interface ImageEmbeddings {
  /** Raw (not normalized) features `[kept.length, embedDim]`. */
  features: Float32Array;
  /** Source index of every feature row. */
  kept: number[];
  skipped: SkipCounts;
  /** Milliseconds waiting for decoded pixels vs. in the image tower. */
  timing: { decodeWaitMs: number; modelMs: number; totalMs: number };
}

/** Raw text features `[texts.length, embedDim]` in input order. */
export function embedTexts(model: ClipModel, tokenizer: EvalTokenizer, texts: string[], opts: EmbedOptions = {}): Float32Array {
  const dim = model.config.embedDim;
  const ctx = model.config.text.contextLength;
  const batch = opts.batchSize ?? 256;
  const out = new Float32Array(texts.length * dim);
  const bar = progress(opts.label ?? "texts", texts.length, { unit: "texts", quiet: opts.quiet });
  for (let s = 0; s < texts.length; s += batch) {
    const chunk = texts.slice(s, s + batch);
    const ids = tokenizer.tokenize(chunk, ctx);
    if (ids.length !== chunk.length * ctx) throw new Error(`tokenizer returned ${ids.length} ids for ${chunk.length} texts x context ${ctx}`);
    const feats = tf.tidy(() => model.encodeText(tf.tensor2d(ids, [chunk.length, ctx], "int32")));
    out.set(feats.dataSync() as Float32Array, s * dim);
    feats.dispose();
    bar.increment(chunk.length);
  }
  bar.stop();
  return out;
}

/**
 * Raw image features for every image of `source` (in order) that decodes.
 * `total` sizes the progress bar. Decoding runs `prefetch` images ahead.
 */
export async function embedImages(
  model: ClipModel,
  source: Iterable<ImageThunk> | AsyncIterable<ImageThunk>,
  total: number,
  decode: DecodeFn,
  opts: EmbedOptions & { prefetch?: number } = {},
): Promise<ImageEmbeddings> {
  const t0 = performance.now();
  const size = model.config.vision.imageSize;
  const dim = model.config.embedDim;
  const batch = opts.batchSize ?? 64;
  const prefetch = Math.max(1, opts.prefetch ?? 2 * batch);
  const pixels = size * size * 3;
  const chunks: Float32Array[] = [];
  const kept: number[] = [];
  const skipped: SkipCounts = { count: 0, byReason: {}, examples: [] };
  const timing = { decodeWaitMs: 0, modelMs: 0, totalMs: 0 };
  const bar = progress(opts.label ?? "images", total, { unit: "img", quiet: opts.quiet });

  const buf = new Float32Array(batch * pixels);
  let inBatch = 0;
  const batchIdx: number[] = [];
  const runBatch = () => {
    if (inBatch === 0) return;
    const m0 = performance.now();
    const feats = tf.tidy(() => model.encodeImage(tf.tensor4d(buf.subarray(0, inBatch * pixels), [inBatch, size, size, 3])));
    chunks.push((feats.dataSync() as Float32Array).slice(0, inBatch * dim));
    feats.dispose();
    timing.modelMs += performance.now() - m0;
    kept.push(...batchIdx);
    bar.increment(inBatch);
    inBatch = 0;
    batchIdx.length = 0;
  };
  const skip = (index: number, reason: string, message: string) => {
    skipped.count++;
    skipped.byReason[reason] = (skipped.byReason[reason] ?? 0) + 1;
    if (skipped.examples.length < 10) skipped.examples.push({ index, reason, message });
    bar.increment(1);
  };

  // A window of in-flight reads+decodes, consumed in source order.
  const window: { index: number; result: Promise<DecodeResult> }[] = [];
  const start = (thunk: ImageThunk, index: number) => {
    const result = thunk().then(
      (bytes) => decode(bytes),
      (err: NodeJS.ErrnoException) => ({ ok: false as const, reason: "read-error", message: err.code ?? err.message }),
    );
    window.push({ index, result });
  };
  const takeOne = async () => {
    const { index, result } = window.shift()!;
    const w0 = performance.now();
    const r = await result;
    timing.decodeWaitMs += performance.now() - w0;
    if (!r.ok) return skip(index, r.reason, r.message);
    if (r.data.length !== pixels) return skip(index, "bad-size", `decoded ${r.data.length} values, expected ${size}x${size}x3`);
    buf.set(r.data, inBatch * pixels);
    batchIdx.push(index);
    if (++inBatch === batch) runBatch();
  };

  let index = 0;
  for await (const thunk of source) {
    start(thunk, index++);
    if (window.length >= prefetch) await takeOne();
  }
  while (window.length > 0) await takeOne();
  runBatch();
  bar.stop();

  const features = new Float32Array(kept.length * dim);
  let off = 0;
  for (const c of chunks) {
    features.set(c, off);
    off += c.length;
  }
  timing.totalMs = performance.now() - t0;
  return { features, kept, skipped, timing };
}

/**
 * Cosine similarities `normalize(a) [n, d] · normalize(b)ᵀ [m, d]` -> `[n, m]`
 * on the tf backend, `rowsPerStep` rows of a at a time to bound memory.
 */
export function cosineSimilarity(a: Float32Array, n: number, b: Float32Array, m: number, dim: number, rowsPerStep = 1024): Float32Array {
  const out = new Float32Array(n * m);
  const bn = tf.tidy(() => l2norm(tf.tensor2d(b, [m, dim])));
  try {
    for (let s = 0; s < n; s += rowsPerStep) {
      const rows = Math.min(rowsPerStep, n - s);
      const sim = tf.tidy(() => tf.matMul(l2norm(tf.tensor2d(a.subarray(s * dim, (s + rows) * dim), [rows, dim])), bn, false, true));
      out.set(sim.dataSync() as Float32Array, s * m);
      sim.dispose();
    }
  } finally {
    bn.dispose();
  }
  return out;
}

function l2norm(x: tf.Tensor2D): tf.Tensor2D {
  // Zero rows stay zero (as normalizeRows in metrics.ts) instead of NaN.
  const n = tf.maximum(tf.norm(x, "euclidean", 1, true), 1e-30);
  return tf.div(x, n) as tf.Tensor2D;
}
