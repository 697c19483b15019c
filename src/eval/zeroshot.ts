// Zero-shot classification: class names x templates -> text classifier
// (normalize, average, renormalize), images -> features, classify by cosine
// similarity, then top-1/top-5, per-class accuracy and the most confused pairs.
import { readFile } from "node:fs/promises";
import type { ClipModel } from "../model/types.js";
import { InputError } from "../util/errors.js";
import { fillTemplate } from "./assets.js";
import { cosineSimilarity, embedImages, embedTexts, type DecodeFn, type EvalTokenizer, type ImageThunk, type SkipCounts } from "../model/embed.js";
import { poolManifest, poolRows } from "../formats/pool.js";
import { resolveClassFolders, scanImageFolder, type FolderNaming } from "./image-folder.js";
import { averageTemplates, classificationMetrics } from "./metrics.js";
import { classifierCacheKey, readCachedClassifier, writeCachedClassifier } from "./text-cache.js";

export interface ClassifierOptions {
  batchSize?: number;
  quiet?: boolean;
  /** Reuse / store the weights under a key made from this content hash of the checkpoint. */
  cache?: { dir: string; weightsHash: string };
}

export interface ZeroShotClassifier {
  /** Unit-norm class embeddings `[classes, embedDim]`. */
  weights: Float32Array;
  classes: number;
  /** True when the weights came from the cache. */
  cached: boolean;
}

/** Embed every template for every class and average per class. */
export async function buildZeroShotClassifier(
  model: ClipModel,
  tokenizer: EvalTokenizer,
  classnames: string[],
  templates: string[],
  opts: ClassifierOptions = {},
): Promise<ZeroShotClassifier> {
  const dim = model.config.embedDim;
  const classes = classnames.length;
  const key = opts.cache
    ? classifierCacheKey({ weightsHash: opts.cache.weightsHash, classnames, templates, contextLength: model.config.text.contextLength, embedDim: dim })
    : null;
  if (opts.cache && key) {
    const hit = await readCachedClassifier(opts.cache.dir, key, classes, dim);
    if (hit) return { weights: hit, classes, cached: true };
  }
  const texts = classnames.flatMap((c) => templates.map((t) => fillTemplate(t, c)));
  const emb = embedTexts(model, tokenizer, texts, { batchSize: opts.batchSize, quiet: opts.quiet, label: `templates (${classes} classes x ${templates.length})` });
  const weights = averageTemplates(emb, classes, templates.length, dim);
  if (opts.cache && key) await writeCachedClassifier(opts.cache.dir, key, weights, classes, dim);
  return { weights, classes, cached: false };
}

export interface ZeroShotResult {
  task: "zeroshot";
  dataset: string;
  classes: number;
  /** Images classified (decoded). */
  images: number;
  top1: number;
  top5: number;
  /** Mean per-class top-1 accuracy over classes present (balanced accuracy). */
  meanPerClass: number;
  perClass: { class: string; accuracy: number | null; images: number }[];
  confused: { label: string; predicted: string; labelIndex: number; predictedIndex: number; count: number }[];
  skipped: SkipCounts;
  /** Shard rows without a valid label (shard input only). */
  unlabelledRows?: number;
  classifierCached: boolean;
  timing: { textMs: number; decodeWaitMs: number; modelMs: number; imagesMs: number; imagesPerSec: number };
}

/** Labelled images in a fixed order: bytes-readers (streamable) and their labels. */
export interface LabelledImages {
  images: () => Iterable<ImageThunk> | AsyncIterable<ImageThunk>;
  labels: ArrayLike<number>;
}

export interface EvaluateOptions {
  batchSize?: number;
  quiet?: boolean;
  /** How many confused pairs to report (default 10). */
  confusedPairs?: number;
  label?: string;
}

/** Classify labelled images against a built classifier and score them. */
export async function evaluateZeroShot(
  model: ClipModel,
  classifier: ZeroShotClassifier,
  classnames: string[],
  data: LabelledImages,
  decode: DecodeFn,
  opts: EvaluateOptions & { dataset?: string; textMs?: number } = {},
): Promise<ZeroShotResult> {
  const dim = model.config.embedDim;
  const C = classifier.classes;
  if (classnames.length !== C) throw new Error(`evaluateZeroShot: ${classnames.length} class names for a ${C}-class classifier`);
  const emb = await embedImages(model, data.images(), data.labels.length, decode, {
    batchSize: opts.batchSize,
    quiet: opts.quiet,
    label: opts.label ?? `zeroshot ${opts.dataset ?? ""}`.trim(),
  });
  const n = emb.kept.length;
  if (n === 0) throw new InputError(`zero-shot ${opts.dataset ?? ""}: no image could be decoded (${emb.skipped.count} skipped: ${JSON.stringify(emb.skipped.byReason)})`);
  const labels = Int32Array.from(emb.kept, (i) => data.labels[i]);
  const logits = cosineSimilarity(emb.features, n, classifier.weights, C, dim);
  const m = classificationMetrics(logits, n, C, labels, { ks: [1, 5], confusedPairs: opts.confusedPairs ?? 10 });
  const counts = new Array<number>(C).fill(0);
  for (const y of labels) counts[y]++;
  const imagesMs = emb.timing.totalMs;
  return {
    task: "zeroshot",
    dataset: opts.dataset ?? "custom",
    classes: C,
    images: n,
    top1: m.topk[1],
    top5: m.topk[5],
    meanPerClass: m.meanPerClass,
    perClass: classnames.map((c, i) => ({ class: c, accuracy: m.perClass[i], images: counts[i] })),
    confused: m.confused.map((p) => ({
      label: classnames[p.label],
      predicted: classnames[p.predicted],
      labelIndex: p.label,
      predictedIndex: p.predicted,
      count: p.count,
    })),
    skipped: emb.skipped,
    classifierCached: classifier.cached,
    timing: {
      textMs: opts.textMs ?? 0,
      decodeWaitMs: emb.timing.decodeWaitMs,
      modelMs: emb.timing.modelMs,
      imagesMs,
      imagesPerSec: imagesMs > 0 ? ((n + emb.skipped.count) * 1000) / imagesMs : 0,
    },
  };
}

export interface ZeroShotSource extends ClassifierOptions, EvaluateOptions {
  dataset: string;
  naming: FolderNaming;
  templates: string[];
  decode: DecodeFn;
  /** Keep the first N images of each class (quick evals during training). */
  perClass?: number;
}

/** Build the classifier (timed) and classify the images. */
async function classify(model: ClipModel, tokenizer: EvalTokenizer, o: ZeroShotSource, data: LabelledImages): Promise<ZeroShotResult> {
  const t0 = performance.now();
  const classifier = await buildZeroShotClassifier(model, tokenizer, o.naming.classnames, o.templates, o);
  const textMs = performance.now() - t0;
  return evaluateZeroShot(model, classifier, o.naming.classnames, data, o.decode, { ...o, textMs });
}

/** Zero-shot over `<dataDir>/<class>/<image>`: scan (fails fast on unknown folders), build classifier, classify. */
export async function zeroShotImageFolder(model: ClipModel, tokenizer: EvalTokenizer, o: ZeroShotSource & { dataDir: string }): Promise<ZeroShotResult> {
  const scan = scanImageFolder(o.dataDir, o.naming, { perClass: o.perClass });
  const files = scan.items.map((it) => it.file);
  return classify(model, tokenizer, o, { images: () => files.map((f) => () => readFile(f)), labels: scan.items.map((it) => it.label) });
}

/**
 * Zero-shot over labelled shards. Shards ingested from class folders list their
 * folder names in the manifest's `classes`; those are matched to the dataset's
 * classes like folders are, and each row's `label` indexes them. Shards from a
 * table with a label column have no `classes`: their labels index the
 * dataset's class names directly. Rows without a label are skipped and counted.
 * Reads the shards twice: labels first, then the images as a stream.
 */
export async function zeroShotShards(model: ClipModel, tokenizer: EvalTokenizer, o: ZeroShotSource & { shards: string }): Promise<ZeroShotResult> {
  const manifest = await poolManifest(o.shards);
  let toLabel: number[];
  if (manifest.classes && manifest.classes.length > 0) {
    const folderLabel = resolveClassFolders(manifest.classes, o.naming, o.shards);
    toLabel = manifest.classes.map((f) => folderLabel.get(f)!.label);
  } else {
    toLabel = o.naming.classnames.map((_, i) => i);
  }
  const keep = new Set<string>(); // `${shard}:${row}`
  const labels: number[] = [];
  const perClass = new Map<number, number>();
  let unlabelledRows = 0;
  for (const [s, shard] of manifest.shards.entries()) {
    for await (const { row, sample } of poolRows(o.shards, manifest, shard)) {
      const l = sample.label;
      if (l === undefined || l === null || !Number.isInteger(l) || l < 0 || l >= toLabel.length) {
        unlabelledRows++;
        continue;
      }
      const y = toLabel[l];
      const seen = perClass.get(y) ?? 0;
      if (o.perClass !== undefined && seen >= o.perClass) continue;
      perClass.set(y, seen + 1);
      keep.add(`${s}:${row}`);
      labels.push(y);
    }
  }
  if (labels.length === 0) throw new InputError(`${o.shards}: no labelled rows (${unlabelledRows} rows without a valid label)`);
  async function* images(): AsyncGenerator<ImageThunk> {
    for (const [s, shard] of manifest.shards.entries()) {
      for await (const { row, sample } of poolRows(o.shards, manifest, shard)) {
        if (!keep.has(`${s}:${row}`)) continue;
        const bytes = sample.image;
        yield () => Promise.resolve(bytes);
      }
    }
  }
  const r = await classify(model, tokenizer, o, { images, labels });
  return { ...r, unlabelledRows };
}
