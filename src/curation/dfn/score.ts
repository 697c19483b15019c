// DFN-style scoring: embed every image-text pair of a shard folder with a CLIP
// model (the filtering network) and store cos(image, text) per pair. One
// sidecar per shard (`<shard>.scores.jsonl`, one line per row:
// {key, shard, row, score} or {key, shard, row, skipped, message}), written
// atomically, so a sidecar that exists is a finished shard and a re-run skips
// it. `score_meta.json` pins the filter checkpoint (sha256) and the input so a
// resumed run never mixes scores of two networks. `scores_summary.json` and
// `scores_histogram.svg` describe the whole folder (finished shards included).
// Decoding is the eval transform (src/image/decode.ts) and embedding the model
// stage's batched loops (src/model/embed.ts).
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { setBackend, type BackendName } from "../../backend/index.js";
import { poolManifest, poolRows } from "../../formats/pool.js";
import { createEvalDecoder } from "../../image/decode.js";
import { embedImages, embedTexts, type ImageThunk } from "../../model/embed.js";
import { loadEvalModel } from "../../model/load.js";
import { AtomicWriter, writeFileAtomic, writeJsonAtomic } from "../../util/atomic.js";
import { InputError } from "../../util/errors.js";
import { progress } from "../../util/progress.js";
import { histogram, histogramSvg, type Histogram } from "./hist.js";
import { readScoreSidecar, scoreSidecarOf, type SkippedRow } from "./sidecar.js";

export interface ScoreShardsOptions {
  /** Filter network: a clipts checkpoint (file or run folder) or an open_clip-layout safetensors file with `model`. */
  checkpoint: string;
  /** Shard folder (manifest.json), or webdataset tars read in place (formats/webdataset.ts). */
  input: string;
  /** Folder for the sidecars, score_meta.json, scores_summary.json, scores_histogram.svg. */
  output: string;
  /** Named architecture for safetensors files without clipts metadata. */
  model?: string;
  tokenizer?: string;
  /** Pairs per model call (default 64). */
  batchSize?: number;
  backend?: BackendName | "auto";
  /** Decode worker threads (default 1). */
  workers?: number;
  /** Histogram bins over [-1, 1] (default 40). */
  bins?: number;
  quiet?: boolean;
}

export interface ScoreSummary {
  checkpoint: string;
  sha256: string;
  model: string;
  backend: string;
  input: string;
  shards: number;
  /** Shards scored by this run vs. found finished (resume). */
  scoredNow: string[];
  resumed: string[];
  rows: number;
  scored: number;
  skipped: { count: number; byReason: Record<string, number>; examples: SkippedRow[] };
  /** Shards cut short: rows lost. */
  truncatedShards: Record<string, { lostRows: number | null; reason: string }>;
  stats: { min: number; max: number; mean: number; quantiles: Record<string, number> } | null;
  histogram: Histogram;
}

const MAX_EXAMPLES = 20;
/** Rows read from a shard before one embedding call (keeps memory to a few batches of bytes). */
const CHUNK_BATCHES = 4;

/** Why a row cannot be scored before decoding, or null. */
function rowProblem(s: { key: unknown; caption: unknown; image: unknown }): { reason: string; message: string } | null {
  if (typeof s.key !== "string" || s.key === "") return { reason: "missing-key", message: "key missing or empty" };
  if (typeof s.caption !== "string" || s.caption.trim() === "") return { reason: "bad-caption", message: "caption missing or empty" };
  if (!(s.image instanceof Uint8Array)) return { reason: "missing-image", message: "image missing" };
  if (s.image.length === 0) return { reason: "empty-image", message: "image has 0 bytes" };
  return null;
}

/** cos(a_i, b_i) for each row i of two `[n, dim]` feature blocks, in float64. */
export function rowCosines(a: Float32Array, b: Float32Array, n: number, dim: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let ab = 0, aa = 0, bb = 0;
    for (let j = i * dim; j < (i + 1) * dim; j++) {
      ab += a[j]! * b[j]!;
      aa += a[j]! * a[j]!;
      bb += b[j]! * b[j]!;
    }
    // A zero feature vector has no direction; it scores 0 (as normalizeRows keeps zero rows zero).
    out[i] = aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
  }
  return out;
}

/** Score every pair of `o.input`; finished shards (sidecar present) are skipped. */
export async function scoreShards(o: ScoreShardsOptions): Promise<ScoreSummary> {
  // Cheap checks before the model loads.
  const batch = o.batchSize ?? 64;
  if (!Number.isInteger(batch) || batch < 1) throw new InputError(`--batch must be a positive integer, got ${o.batchSize}`);
  const bins = o.bins ?? 40;
  if (!Number.isInteger(bins) || bins < 1) throw new InputError(`bins must be a positive integer, got ${o.bins}`);
  const manifest = await poolManifest(o.input);
  await fs.mkdir(o.output, { recursive: true });

  const backend = await setBackend(o.backend ?? "auto");
  const m = await loadEvalModel(o.checkpoint, { model: o.model, tokenizer: o.tokenizer });
  const metaFile = path.join(o.output, "score_meta.json");
  const meta = { checkpoint: path.resolve(m.file), sha256: m.weightsHash, model: m.model.config.name, tokenizer: m.cacheId.split("/").slice(2).join("/"), input: path.resolve(o.input),
    // The shards' content hashes: rewritten shards under the same path must not reuse old sidecars.
    shardsSha256: Object.fromEntries(manifest.shards.map((s) => [s.file, s.sha256])) };
  try {
    if (existsSync(metaFile)) {
      const old = JSON.parse(await fs.readFile(metaFile, "utf8")) as typeof meta;
      if (old.sha256 !== meta.sha256 || old.input !== meta.input || old.model !== meta.model || old.tokenizer !== meta.tokenizer) {
        throw new InputError(`${metaFile}: this folder holds scores of another filter or input (${old.checkpoint} on ${old.input}); use a new --output`);
      }
      const changed = manifest.shards.find((s) => old.shardsSha256?.[s.file] !== undefined && old.shardsSha256[s.file] !== s.sha256);
      if (changed) throw new InputError(`${metaFile}: shard ${changed.file} changed since it was scored (sha256 differs); use a new --output`);
      // New shards appended to the folder are scored and recorded.
      if (manifest.shards.some((s) => old.shardsSha256?.[s.file] === undefined)) await writeJsonAtomic(metaFile, { ...meta, shardsSha256: { ...old.shardsSha256, ...meta.shardsSha256 } });
    } else {
      await writeJsonAtomic(metaFile, meta);
    }
  } catch (err) {
    m.dispose();
    throw err;
  }

  const dec = createEvalDecoder(m.model.config, { mean: m.mean, std: m.std, workers: o.workers });
  const todo = manifest.shards.filter((s) => !existsSync(path.join(o.output, scoreSidecarOf(s.file))));
  const bar = progress("score pairs", todo.reduce((a, s) => a + Math.max(0, s.rows), 0), { unit: "pairs", quiet: o.quiet });
  const dim = m.model.config.embedDim;
  try {
    for (const s of todo) {
      const w = new AtomicWriter(path.join(o.output, scoreSidecarOf(s.file)));
      const truncated: { lostRows: number | null; reason: string }[] = [];
      try {
        let chunk: { row: number; key: string; caption: string; image: Uint8Array }[] = [];
        const flush = async () => {
          if (chunk.length === 0) return;
          const texts = embedTexts(m.model, m.tokenizer, chunk.map((r) => r.caption), { batchSize: batch, quiet: true });
          const thunks: ImageThunk[] = chunk.map((r) => () => Promise.resolve(r.image));
          const imgs = await embedImages(m.model, thunks, chunk.length, dec.decode, { batchSize: batch, quiet: true });
          // Text rows of the images that decoded, in the same order.
          const t = new Float32Array(imgs.kept.length * dim);
          imgs.kept.forEach((src, i) => t.set(texts.subarray(src * dim, (src + 1) * dim), i * dim));
          const cos = rowCosines(imgs.features, t, imgs.kept.length, dim);
          const score = new Map(imgs.kept.map((src, i) => [src, cos[i]!]));
          const why = new Map<number, { reason: string; message: string }>();
          // embedImages reports skip examples for only the first few; any row without a score was skipped by the decoder.
          for (const e of imgs.skipped.examples) why.set(e.index, { reason: e.reason, message: e.message });
          for (const [i, r] of chunk.entries()) {
            const sc = score.get(i);
            const line = sc !== undefined
              ? { key: r.key, shard: s.file, row: r.row, score: sc }
              : { key: r.key, shard: s.file, row: r.row, skipped: why.get(i)?.reason ?? "decode-error", message: why.get(i)?.message ?? "image could not be decoded" };
            await w.write(`${JSON.stringify(line)}\n`);
          }
          bar.increment(chunk.length);
          chunk = [];
        };
        const onSkip = (info: { rows: number | null; reason: string }) => truncated.push({ lostRows: info.rows, reason: info.reason });
        for await (const { row, sample } of poolRows(o.input, manifest, s, onSkip)) {
          const bad = rowProblem(sample);
          if (bad) {
            const key = typeof sample.key === "string" ? sample.key : null;
            await w.write(`${JSON.stringify({ key, shard: s.file, row, skipped: bad.reason, message: bad.message })}\n`);
            bar.increment();
            continue;
          }
          chunk.push({ row, key: sample.key, caption: sample.caption, image: sample.image });
          if (chunk.length >= batch * CHUNK_BATCHES) await flush();
        }
        await flush();
        // A truncated shard's lost rows go on a trailer line, so resume and the summary see them.
        for (const t of truncated) await w.write(`${JSON.stringify({ shard: s.file, truncated: t })}\n`);
        await w.commit();
      } catch (err) {
        await w.abort();
        throw err;
      }
    }
  } finally {
    bar.stop();
    await dec.close();
    m.dispose();
  }
  const summary = await summarizeScores(o.output, manifest.shards.map((s) => s.file), bins);
  const out: ScoreSummary = {
    ...summary,
    checkpoint: meta.checkpoint,
    sha256: meta.sha256,
    model: meta.model,
    backend,
    input: meta.input,
    scoredNow: todo.map((s) => s.file),
    resumed: manifest.shards.filter((s) => !todo.includes(s)).map((s) => s.file),
  };
  await writeJsonAtomic(path.join(o.output, "scores_summary.json"), out);
  await writeFileAtomic(path.join(o.output, "scores_histogram.svg"), histogramSvg(out.histogram, `Filter scores: ${out.scored} pairs (${meta.model})`));
  return out;
}

/** Counts, quantiles and the histogram over the sidecars of `shards`. */
async function summarizeScores(dir: string, shards: string[], bins: number) {
  const scores: number[] = [];
  const skipped: ScoreSummary["skipped"] = { count: 0, byReason: {}, examples: [] };
  const truncatedShards: ScoreSummary["truncatedShards"] = {};
  let rows = 0;
  for (const shard of shards) {
    const sc = await readScoreSidecar(path.join(dir, scoreSidecarOf(shard)));
    for (const r of sc.scored) scores.push(r.score);
    rows += sc.scored.length + sc.skipped.length;
    for (const k of sc.skipped) {
      skipped.count++;
      skipped.byReason[k.skipped] = (skipped.byReason[k.skipped] ?? 0) + 1;
      if (skipped.examples.length < MAX_EXAMPLES) skipped.examples.push(k);
    }
    if (sc.truncated) truncatedShards[shard] = sc.truncated;
  }
  const sorted = Float64Array.from(scores).sort();
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  const stats = sorted.length === 0 ? null : {
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean: scores.reduce((a, b) => a + b, 0) / scores.length,
    quantiles: Object.fromEntries([0.1, 0.25, 0.5, 0.7, 0.75, 0.9].map((p) => [`p${Math.round(p * 100)}`, q(p)])),
  };
  return { shards: shards.length, rows, scored: scores.length, skipped, truncatedShards, stats, histogram: histogram(scores, bins) };
}
