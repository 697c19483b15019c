// Checkpoint-level entry points behind `clipts eval zeroshot | retrieval |
// suite`: pick a backend, load the checkpoint, set up decoding, run, report.
import path from "node:path";
import { setBackend, type BackendName } from "../backend/index.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { BUILTIN_DATASETS, isBuiltinDataset } from "./assets.js";
import { createEvalDecoder } from "../image/decode.js";
import { loadEvalModel, type LoadedEvalModel } from "../model/load.js";
import { evaluateRetrieval, readCaptionJsonl, readCaptionShards, type RetrievalResult } from "./retrieval.js";
import { loadSuite, runEvalSuite, suiteMarkdown, zeroShotNaming, type SuiteResult, type TaskResult } from "./suite.js";
import { defaultCacheDir } from "./text-cache.js";
import { zeroShotImageFolder, zeroShotShards, type ZeroShotResult } from "./zeroshot.js";

export interface CheckpointEvalOptions {
  checkpoint: string;
  /** Named model config for safetensors files without clipts metadata. */
  model?: string;
  tokenizer?: string;
  backend?: BackendName | "auto";
  batchSize?: number;
  /** Decode worker threads. */
  workers?: number;
  /** Classifier cache folder; null disables the cache. */
  cacheDir?: string | null;
  quiet?: boolean;
  /** Results JSON (written atomically). */
  out?: string;
}

async function withModel<T>(o: CheckpointEvalOptions, fn: (m: LoadedEvalModel, backend: string) => Promise<T>): Promise<T> {
  const backend = await setBackend(o.backend ?? "auto");
  const m = await loadEvalModel(o.checkpoint, { model: o.model, tokenizer: o.tokenizer });
  try {
    return await fn(m, backend);
  } finally {
    m.dispose();
  }
}

function decoderFor(m: LoadedEvalModel, o: CheckpointEvalOptions) {
  return createEvalDecoder(m.model.config, { mean: m.mean, std: m.std, workers: o.workers });
}

function meta(m: LoadedEvalModel, backend: string) {
  return { checkpoint: m.file, sha256: m.weightsHash, step: m.step, model: m.model.config.name, backend, date: new Date().toISOString() };
}

export interface ZeroShotCliOptions extends CheckpointEvalOptions {
  dataset: string;
  /** Class folders; or `shards` ingested from class folders. */
  dataDir?: string;
  shards?: string;
  classnames?: string;
  templates?: string;
  perClass?: number;
}

/** `clipts eval zeroshot`: one image-folder dataset. */
export async function evalCheckpointZeroShot(o: ZeroShotCliOptions): Promise<ZeroShotResult> {
  if (!isBuiltinDataset(o.dataset) && (!o.classnames || !o.templates)) {
    throw new InputError(`--dataset ${o.dataset}: not built in (${BUILTIN_DATASETS.join(", ")}); give --classnames and --templates`);
  }
  if ((o.dataDir === undefined) === (o.shards === undefined)) throw new InputError("eval zeroshot: give exactly one of --data-dir (class folders) or --shards");
  const task = {
    name: o.dataset,
    type: "zeroshot" as const,
    dataset: o.dataset,
    dataDir: o.dataDir && path.resolve(o.dataDir),
    shards: o.shards && path.resolve(o.shards),
    classnames: o.classnames && path.resolve(o.classnames),
    templates: o.templates && path.resolve(o.templates),
  };
  const { naming, templates } = zeroShotNaming(task); // fails on bad files before the model loads
  return withModel(o, async (m, backend) => {
    const dec = decoderFor(m, o);
    try {
      const source = {
        dataset: o.dataset,
        naming,
        templates,
        decode: dec.decode,
        perClass: o.perClass,
        batchSize: o.batchSize,
        quiet: o.quiet,
        cache: o.cacheDir === null ? undefined : { dir: o.cacheDir ?? defaultCacheDir(), weightsHash: m.cacheId },
      };
      const r = task.dataDir
        ? await zeroShotImageFolder(m.model, m.tokenizer, { ...source, dataDir: task.dataDir })
        : await zeroShotShards(m.model, m.tokenizer, { ...source, shards: task.shards! });
      if (o.out) await writeJsonAtomic(o.out, { ...meta(m, backend), ...r });
      return r;
    } finally {
      await dec.close();
    }
  });
}

export interface RetrievalCliOptions extends CheckpointEvalOptions {
  captions?: string;
  imageRoot?: string;
  shards?: string;
  limit?: number;
}

/** `clipts eval retrieval`: recall@k on a captioned split. */
export async function evalCheckpointRetrieval(o: RetrievalCliOptions): Promise<RetrievalResult> {
  if ((o.captions === undefined) === (o.shards === undefined)) throw new InputError("eval retrieval: give exactly one of --captions (JSONL) or --shards (folder)");
  const split = o.captions ? await readCaptionJsonl(o.captions, { imageRoot: o.imageRoot, limit: o.limit }) : await readCaptionShards(o.shards!, { limit: o.limit });
  return withModel(o, async (m, backend) => {
    const dec = decoderFor(m, o);
    try {
      const name = path.basename(o.captions ?? o.shards!).replace(/\.jsonl$/, "");
      const r = await evaluateRetrieval(m.model, m.tokenizer, split, dec.decode, { dataset: name, batchSize: o.batchSize, quiet: o.quiet });
      if (o.out) await writeJsonAtomic(o.out, { ...meta(m, backend), ...r });
      return r;
    } finally {
      await dec.close();
    }
  });
}

export interface SuiteCliOptions extends CheckpointEvalOptions {
  suite: string;
  onTask?: (r: TaskResult) => void;
}

/** `clipts eval suite`: every task of a suite file; JSON to `out` (default beside the checkpoint). */
export async function evalCheckpointSuite(o: SuiteCliOptions): Promise<{ result: SuiteResult; markdown: string; out: string }> {
  const suite = loadSuite(o.suite); // a bad suite fails before the model loads
  return withModel(o, async (m, backend) => {
    const dec = decoderFor(m, o);
    try {
      const result = await runEvalSuite(m.model, m.tokenizer, suite, {
        decode: dec.decode,
        batchSize: o.batchSize,
        quiet: o.quiet,
        cache: o.cacheDir === null ? undefined : { dir: o.cacheDir ?? defaultCacheDir(), weightsHash: m.cacheId },
        onTask: o.onTask,
      });
      const out = o.out ?? defaultSuiteOut(m.file, result.suite);
      await writeJsonAtomic(out, { ...meta(m, backend), suiteFile: path.resolve(o.suite), ...result });
      return { result, markdown: suiteMarkdown(result), out };
    } finally {
      await dec.close();
    }
  });
}

/** `<checkpoint without .safetensors>.eval-<suite>.json` */
export function defaultSuiteOut(checkpointFile: string, suite: string): string {
  const base = checkpointFile.replace(/\.safetensors$/, "");
  return `${base}.eval-${suite.replace(/[^A-Za-z0-9._-]/g, "_")}.json`;
}

const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? "-" : `${(100 * x).toFixed(2)}%`);

/** Human-readable zero-shot report: accuracies, worst classes, confusions, skips. */
export function formatZeroShot(r: ZeroShotResult, worst = 10): string {
  const lines = [
    `zero-shot ${r.dataset}: ${r.images} images, ${r.classes} classes${r.classifierCached ? " (text classifier from cache)" : ""}`,
    `  top-1 ${pct(r.top1)}  top-5 ${pct(r.top5)}  mean per class ${pct(r.meanPerClass)}`,
  ];
  const present = r.perClass.filter((c) => c.accuracy !== null).sort((a, b) => a.accuracy! - b.accuracy! || a.class.localeCompare(b.class));
  if (present.length > 0) lines.push(`  worst classes: ${present.slice(0, worst).map((c) => `${c.class} ${pct(c.accuracy)} (n=${c.images})`).join(", ")}`);
  if (r.confused.length > 0) {
    lines.push(`  most confused (true -> predicted: count):`);
    for (const c of r.confused) lines.push(`    ${c.label} -> ${c.predicted}: ${c.count}`);
  }
  if (r.skipped.count > 0) lines.push(`  skipped ${r.skipped.count} image(s): ${JSON.stringify(r.skipped.byReason)}`);
  lines.push(`  ${r.timing.imagesPerSec.toFixed(1)} images/s (decode wait ${(r.timing.decodeWaitMs / 1000).toFixed(1)} s, model ${(r.timing.modelMs / 1000).toFixed(1)} s)`);
  return lines.join("\n");
}

export function formatRetrieval(r: RetrievalResult): string {
  const fmt = (m: Record<number, number>) => Object.entries(m).map(([k, v]) => `R@${k} ${pct(v)}`).join("  ");
  const lines = [
    `retrieval ${r.dataset}: ${r.images} images, ${r.texts} captions`,
    `  image->text ${fmt(r.imageToText)}`,
    `  text->image ${fmt(r.textToImage)}`,
    `  mean R@1 ${pct(r.meanRecallAt1)}`,
  ];
  if (r.badRows.count > 0) lines.push(`  skipped ${r.badRows.count} bad row(s): ${JSON.stringify(r.badRows.byReason)}`);
  if (r.skippedImages.count > 0) lines.push(`  skipped ${r.skippedImages.count} image(s): ${JSON.stringify(r.skippedImages.byReason)}`);
  lines.push(`  ${r.timing.imagesPerSec.toFixed(1)} images/s`);
  return lines.join("\n");
}
