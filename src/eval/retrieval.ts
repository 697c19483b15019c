// Image <-> text retrieval over a captioned split (COCO / Flickr style, several
// captions per image): recall@1/5/10 both ways.
//
// Inputs: a JSONL file of {"image": "<path>", "captions": ["...", ...]} (or a
// single "caption"), paths relative to the file's folder; or a clipts shard
// folder whose rows repeat the image key once per caption.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { ClipModel } from "../model/types.js";
import { poolManifest, poolRows } from "../formats/pool.js";
import { InputError } from "../util/errors.js";
import { readJsonl } from "../util/jsonl.js";
import { cosineSimilarity, embedImages, embedTexts, type DecodeFn, type EvalTokenizer, type ImageThunk, type SkipCounts } from "../model/embed.js";
import { retrievalRecallBlockwise } from "./metrics.js";

/** Image rows of the similarity matrix computed at a time (= cosineSimilarity's default row step). */
const SIM_BLOCK = 1024;

/** A captioned split, images in a fixed order, every caption pointing at its image. */
export interface CaptionedSplit {
  /** Image identifiers (paths or shard keys), in order. */
  imageKeys: string[];
  /** Yields one bytes-reader per image, in `imageKeys` order (may be called more than once). */
  images: () => AsyncIterable<ImageThunk> | Iterable<ImageThunk>;
  captions: string[];
  /** Image index of each caption. */
  textImage: number[];
  /** Input rows that were unusable (bad JSON, no image, no caption). */
  badRows: SkipCounts;
}

function emptySkips(): SkipCounts {
  return { count: 0, byReason: {}, examples: [] };
}

function addSkip(s: SkipCounts, index: number, reason: string, message: string): void {
  s.count++;
  s.byReason[reason] = (s.byReason[reason] ?? 0) + 1;
  if (s.examples.length < 10) s.examples.push({ index, reason, message });
}

/**
 * Read a JSONL caption file. Rows naming the same image merge their captions.
 * Bad rows are skipped and counted (with line numbers), never fatal; a file
 * with no usable row is an error. `limit` keeps the first N images.
 */
export async function readCaptionJsonl(file: string, opts: { imageRoot?: string; limit?: number } = {}): Promise<CaptionedSplit> {
  const root = opts.imageRoot ?? path.dirname(file);
  const index = new Map<string, number>();
  const imageKeys: string[] = [];
  const captions: string[] = [];
  const textImage: number[] = [];
  const badRows = emptySkips();
  for await (const { line, value, error } of readJsonl(file)) {
    if (error) {
      addSkip(badRows, line, "invalid-json", `${file}:${line}: ${error}`);
      continue;
    }
    const v = value as { image?: unknown; captions?: unknown; caption?: unknown } | null;
    const image = v && typeof v === "object" ? v.image : undefined;
    const caps = v && typeof v === "object" ? (Array.isArray(v.captions) ? v.captions : v.caption !== undefined ? [v.caption] : []) : [];
    const good = caps.filter((c): c is string => typeof c === "string" && c.trim() !== "");
    if (typeof image !== "string" || image === "") {
      addSkip(badRows, line, "no-image", `${file}:${line}: "image" must be a non-empty string`);
      continue;
    }
    if (good.length === 0) {
      addSkip(badRows, line, "no-caption", `${file}:${line}: no non-empty caption in "captions"/"caption"`);
      continue;
    }
    let i = index.get(image);
    if (i === undefined) {
      if (opts.limit !== undefined && imageKeys.length >= opts.limit) continue;
      i = imageKeys.length;
      index.set(image, i);
      imageKeys.push(image);
    }
    for (const c of good) {
      captions.push(c);
      textImage.push(i);
    }
  }
  if (imageKeys.length === 0) throw new InputError(`${file}: no usable rows (${badRows.count} bad rows)`);
  const files = imageKeys.map((k) => path.resolve(root, k));
  return { imageKeys, images: () => files.map((f) => () => readFile(f)), captions, textImage, badRows };
}

/**
 * Read a shard folder: rows with the same `key` are captions of one image
 * (the image bytes of the first such row are used). Reads the shards twice:
 * once for keys and captions, once streaming the images.
 */
export async function readCaptionShards(dir: string, opts: { limit?: number } = {}): Promise<CaptionedSplit> {
  const manifest = await poolManifest(dir);
  const index = new Map<string, number>();
  const imageKeys: string[] = [];
  const captions: string[] = [];
  const textImage: number[] = [];
  const badRows = emptySkips();
  let rowNo = 0;
  for (const shard of manifest.shards) {
    const onSkip = (info: { shard: string; rows: number | null; reason: string }) =>
      addSkip(badRows, rowNo, "shard-cut-short", `${info.shard}: ${info.reason} (${info.rows ?? "unknown"} rows lost)`);
    for await (const { row, sample } of poolRows(dir, manifest, shard, onSkip)) {
      rowNo++;
      if (typeof sample.caption !== "string" || sample.caption.trim() === "") {
        addSkip(badRows, rowNo, "no-caption", `${shard.file} row ${row}: empty caption`);
        continue;
      }
      let i = index.get(sample.key);
      if (i === undefined) {
        if (opts.limit !== undefined && imageKeys.length >= opts.limit) continue;
        i = imageKeys.length;
        index.set(sample.key, i);
        imageKeys.push(sample.key);
      }
      captions.push(sample.caption);
      textImage.push(i);
    }
  }
  if (imageKeys.length === 0) throw new InputError(`${dir}: no usable rows (${badRows.count} bad rows)`);
  async function* images(): AsyncGenerator<ImageThunk> {
    const seen = new Set<string>();
    for (const shard of manifest.shards) {
      for await (const { sample } of poolRows(dir, manifest, shard)) {
        if (!index.has(sample.key) || seen.has(sample.key)) continue;
        seen.add(sample.key);
        const bytes = sample.image;
        yield () => Promise.resolve(bytes);
        if (seen.size === imageKeys.length) return;
      }
    }
  }
  return { imageKeys, images, captions, textImage, badRows };
}

export interface RetrievalResult {
  task: "retrieval";
  dataset: string;
  images: number;
  texts: number;
  /** Recall@k, image -> text (an image is found when any of its captions is in the top k). */
  imageToText: Record<number, number>;
  /** Recall@k, text -> image. */
  textToImage: Record<number, number>;
  /** Mean of image->text and text->image recall@1 (DataComp's retrieval score). */
  meanRecallAt1: number;
  badRows: SkipCounts;
  skippedImages: SkipCounts;
  timing: { textMs: number; decodeWaitMs: number; modelMs: number; imagesMs: number; imagesPerSec: number };
}

export interface RetrievalOptions {
  dataset?: string;
  batchSize?: number;
  quiet?: boolean;
  ks?: number[];
}

/**
 * Embed all images and captions of a split and score recall@k. Images that
 * fail to decode are dropped together with their captions (and counted).
 */
export async function evaluateRetrieval(
  model: ClipModel,
  tokenizer: EvalTokenizer,
  split: CaptionedSplit,
  decode: DecodeFn,
  opts: RetrievalOptions = {},
): Promise<RetrievalResult> {
  const dim = model.config.embedDim;
  const ks = opts.ks ?? [1, 5, 10];
  const img = await embedImages(model, split.images(), split.imageKeys.length, decode, {
    batchSize: opts.batchSize,
    quiet: opts.quiet,
    label: `retrieval ${opts.dataset ?? ""} images`.trim(),
  });
  for (const e of img.skipped.examples) e.message = `${split.imageKeys[e.index]}: ${e.message}`;
  // Renumber images to the kept ones and keep only their captions.
  const newIndex = new Map<number, number>(img.kept.map((src, k) => [src, k]));
  const texts: string[] = [];
  const textImage: number[] = [];
  split.captions.forEach((c, t) => {
    const k = newIndex.get(split.textImage[t]);
    if (k !== undefined) {
      texts.push(c);
      textImage.push(k);
    }
  });
  if (img.kept.length === 0) throw new InputError(`retrieval ${opts.dataset ?? ""}: no image could be decoded (${img.skipped.count} skipped)`);
  const t0 = performance.now();
  const txt = embedTexts(model, tokenizer, texts, { batchSize: opts.batchSize, quiet: opts.quiet, label: `retrieval ${opts.dataset ?? ""} captions`.trim() });
  const textMs = performance.now() - t0;
  // Similarities in blocks of SIM_BLOCK image rows (cosineSimilarity's own row step, so
  // each block holds the values the full matrix would): memory is one block, not images x texts.
  const r = retrievalRecallBlockwise(
    (start, rows) => cosineSimilarity(img.features.subarray(start * dim, (start + rows) * dim), rows, txt, texts.length, dim),
    img.kept.length, texts.length, textImage, ks, SIM_BLOCK,
  );
  const imagesMs = img.timing.totalMs;
  return {
    task: "retrieval",
    dataset: opts.dataset ?? "custom",
    images: r.images,
    texts: r.texts,
    imageToText: r.imageToText,
    textToImage: r.textToImage,
    meanRecallAt1: ks.includes(1) ? (r.imageToText[1] + r.textToImage[1]) / 2 : NaN,
    badRows: split.badRows,
    skippedImages: img.skipped,
    timing: {
      textMs,
      decodeWaitMs: img.timing.decodeWaitMs,
      modelMs: img.timing.modelMs,
      imagesMs,
      imagesPerSec: imagesMs > 0 ? ((img.kept.length + img.skipped.count) * 1000) / imagesMs : 0,
    },
  };
}
