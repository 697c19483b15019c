// Cache of zero-shot classifier weights (the averaged template embeddings).
// Embedding 80 templates x 1000 ImageNet classes is 80,000 text forward
// passes; the result depends only on the weights, the tokenizer context, the
// class names and the templates, so it is stored under a hash of exactly
// those and reused on the next run with the same checkpoint.
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeFileAtomic } from "../util/atomic.js";

const MAGIC = 0x4354_4c43; // "CLTC" little-endian: clipts text classifier
const HEADER = 12;

/** Default cache folder: $CLIPTS_CACHE_DIR, else $XDG_CACHE_HOME/clipts/zeroshot, else ~/.cache/clipts/zeroshot. */
export function defaultCacheDir(): string {
  if (process.env.CLIPTS_CACHE_DIR) return process.env.CLIPTS_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "clipts", "zeroshot");
}

export interface ClassifierKeyParts {
  /** Content hash of the weights (sha256 of the checkpoint file). */
  weightsHash: string;
  classnames: string[];
  templates: string[];
  contextLength: number;
  embedDim: number;
}

/** Cache key: sha256 over every input that changes the classifier. */
export function classifierCacheKey(p: ClassifierKeyParts): string {
  const body = JSON.stringify({ v: 1, w: p.weightsHash, c: p.classnames, t: p.templates, ctx: p.contextLength, d: p.embedDim });
  return createHash("sha256").update(body).digest("hex");
}

function cacheFile(dir: string, key: string): string {
  return path.join(dir, `${key}.f32`);
}

/** The cached `[classes, dim]` weights, or null when absent or not of that shape (a stale or torn file is ignored). */
export async function readCachedClassifier(dir: string, key: string, classes: number, dim: number): Promise<Float32Array | null> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(cacheFile(dir, key));
  } catch {
    return null;
  }
  if (buf.length !== HEADER + classes * dim * 4) return null;
  if (buf.readUInt32LE(0) !== MAGIC || buf.readUInt32LE(4) !== classes || buf.readUInt32LE(8) !== dim) return null;
  const out = new Float32Array(classes * dim);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(HEADER + 4 * i);
  return out;
}

export async function writeCachedClassifier(dir: string, key: string, weights: Float32Array, classes: number, dim: number): Promise<string> {
  if (weights.length !== classes * dim) throw new Error(`writeCachedClassifier: ${weights.length} values for ${classes}x${dim}`);
  const buf = Buffer.alloc(HEADER + weights.length * 4);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(classes, 4);
  buf.writeUInt32LE(dim, 8);
  for (let i = 0; i < weights.length; i++) buf.writeFloatLE(weights[i], HEADER + 4 * i);
  const file = cacheFile(dir, key);
  await writeFileAtomic(file, buf);
  return file;
}
