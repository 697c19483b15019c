// Evaluation suites: a YAML file listing zero-shot and retrieval tasks, run
// together and reported as one Markdown table with an average of the tasks'
// main metrics (top-1 for classification, mean recall@1 for retrieval), as
// DataComp reports its benchmark.
import { existsSync, readFileSync, statSync } from "node:fs";
import { isTarPool, resolvePoolSpec, tarManifest } from "../formats/webdataset.js";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { ClipModel } from "../model/types.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { builtinAssets, checkTemplates, imagenetWnidMap, imagenetWnids, isBuiltinDataset, readStringList, readTemplates, BUILTIN_DATASETS } from "./assets.js";
import { createEvalDecoder, type EvalImageOptions } from "../image/decode.js";
import type { DecodeFn, EvalTokenizer } from "../model/embed.js";
import type { FolderNaming } from "./image-folder.js";
import { evaluateRetrieval, readCaptionJsonl, readCaptionShards, type RetrievalResult } from "./retrieval.js";
import { zeroShotImageFolder, zeroShotShards, type ZeroShotResult } from "./zeroshot.js";

const positiveInt = z.number().int().positive();

const zeroshotTask = z
  .strictObject({
    name: z.string().min(1),
    type: z.literal("zeroshot"),
    /** imagenet | cifar10 | cifar100 use the shipped names/templates; any other name needs `classnames` and `templates`. */
    dataset: z.string().min(1),
    /** `<dataDir>/<class folder>/<image>`. */
    dataDir: z.string().min(1).optional(),
    /** Shards ingested from class folders (manifest `classes`, row `label`). */
    shards: z.string().min(1).optional(),
    classnames: z.string().min(1).optional(),
    templates: z.string().min(1).optional(),
    perClass: positiveInt.optional(),
    batchSize: positiveInt.optional(),
  })
  .refine((t) => (t.dataDir === undefined) !== (t.shards === undefined), { message: "give exactly one of dataDir (class folders) or shards", path: ["dataDir"] });

const retrievalTask = z
  .strictObject({
    name: z.string().min(1),
    type: z.literal("retrieval"),
    /** JSONL of {image, captions}. */
    captions: z.string().min(1).optional(),
    /** Folder of images the JSONL paths are relative to (default: the JSONL's folder). */
    imageRoot: z.string().min(1).optional(),
    /** Shard folder whose rows repeat the image key per caption. */
    shards: z.string().min(1).optional(),
    limit: positiveInt.optional(),
    batchSize: positiveInt.optional(),
  })
  .refine((t) => (t.captions === undefined) !== (t.shards === undefined), { message: "give exactly one of captions (JSONL) or shards", path: ["captions"] });

const suiteSchema = z.strictObject({
  name: z.string().min(1).optional(),
  batchSize: positiveInt.optional(),
  tasks: z.array(z.discriminatedUnion("type", [zeroshotTask, retrievalTask])).min(1),
});

export type SuiteTask = z.infer<typeof zeroshotTask> | z.infer<typeof retrievalTask>;
export type EvalSuite = z.infer<typeof suiteSchema> & { file?: string };

function keyPath(p: readonly PropertyKey[]): string {
  return p.map((k, i) => (typeof k === "number" ? `[${k}]` : `${i === 0 ? "" : "."}${String(k)}`)).join("") || "(root)";
}

/** `${VAR}` in a string value -> the environment variable; unset is an error naming the key. */
function expandEnv(value: unknown, where: string, file: string, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined || v === "") throw new InputError(`${file}: ${where}: environment variable ${name} is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, `${where}[${i}]`, file, env));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, where === "" ? k : `${where}.${k}`, file, env)]));
  }
  return value;
}

/**
 * Parse and check a suite. Every problem is an InputError naming the file and
 * the key (`tasks[1].dataDir: ...`). Relative paths resolve against the suite
 * file's folder. Paths must exist, so a bad suite fails before any work.
 */
export function parseSuite(text: string, file: string, opts: { env?: NodeJS.ProcessEnv; checkPaths?: boolean } = {}): EvalSuite {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InputError(`${file}: invalid YAML (${(err as Error).message.split("\n")[0]})`);
  }
  raw = expandEnv(raw, "", file, opts.env ?? process.env);
  const parsed = suiteSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const more = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more)` : "";
    throw new InputError(`${file}: ${keyPath(issue.path)}: ${issue.message}${more}`);
  }
  const suite: EvalSuite = { ...parsed.data, file };
  const base = path.dirname(path.resolve(file));
  const names = new Set<string>();
  suite.tasks = suite.tasks.map((t, i) => {
    const at = (k: string) => `${file}: tasks[${i}].${k}`;
    if (names.has(t.name)) throw new InputError(`${at("name")}: duplicate task name ${JSON.stringify(t.name)}`);
    names.add(t.name);
    const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(base, p));
    // A shard folder, or webdataset tars (brace lists, pipe: commands, joined by ::).
    const pool = (p: string | undefined) => (p === undefined ? undefined : resolvePoolSpec(base, p));
    if (t.type === "zeroshot") {
      const out = { ...t, dataDir: abs(t.dataDir), shards: pool(t.shards), classnames: abs(t.classnames), templates: abs(t.templates) };
      if (!isBuiltinDataset(t.dataset) && (t.classnames === undefined || t.templates === undefined)) {
        throw new InputError(`${at("dataset")}: ${JSON.stringify(t.dataset)} is not built in (${BUILTIN_DATASETS.join(", ")}); give classnames and templates files`);
      }
      if (opts.checkPaths !== false) {
        if (out.dataDir) mustExist(out.dataDir, at("dataDir"), "dir");
        if (out.shards) mustBePool(out.shards, at("shards"));
        if (out.classnames) mustExist(out.classnames, at("classnames"), "file");
        if (out.templates) mustExist(out.templates, at("templates"), "file");
      }
      return out;
    }
    const out = { ...t, captions: abs(t.captions), shards: pool(t.shards), imageRoot: abs(t.imageRoot) };
    if (opts.checkPaths !== false) {
      if (out.captions) mustExist(out.captions, at("captions"), "file");
      if (out.shards) mustBePool(out.shards, at("shards"));
      if (out.imageRoot) mustExist(out.imageRoot, at("imageRoot"), "dir");
    }
    return out;
  });
  return suite;
}

/** A shard folder that exists, or a tar pool whose local tars exist. */
function mustBePool(p: string, where: string): void {
  if (!isTarPool(p)) return mustExist(p, where, "dir");
  try {
    tarManifest(p);
  } catch (err) {
    throw new InputError(`${where}: ${(err as Error).message}`);
  }
}

function mustExist(p: string, where: string, kind: "file" | "dir"): void {
  if (!existsSync(p)) throw new InputError(`${where}: ${p} does not exist`);
  const isDir = statSync(p).isDirectory();
  if (kind === "dir" && !isDir) throw new InputError(`${where}: ${p} is not a folder`);
  if (kind === "file" && isDir) throw new InputError(`${where}: ${p} is a folder, expected a file`);
}

export function loadSuite(file: string, opts: { env?: NodeJS.ProcessEnv; checkPaths?: boolean } = {}): EvalSuite {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new InputError(`suite ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseSuite(text, file, opts);
}

/** Names, templates and folder naming of a zero-shot task (shipped or from its files). */
export function zeroShotNaming(task: z.infer<typeof zeroshotTask>): { naming: FolderNaming; templates: string[] } {
  const shipped = isBuiltinDataset(task.dataset) ? builtinAssets(task.dataset) : undefined;
  const classnames = task.classnames ? readStringList(task.classnames, "classnames") : shipped!.classnames;
  const templates = task.templates ? readTemplates(task.templates) : shipped!.templates;
  checkTemplates(templates, task.templates ?? task.dataset);
  const naming: FolderNaming = { classnames };
  if (task.dataset === "imagenet" && classnames.length === 1000) {
    const wnids = imagenetWnids();
    const map = imagenetWnidMap();
    naming.wnids = wnids;
    naming.lemmas = wnids.map((w) => map.get(w) ?? []);
  }
  return { naming, templates };
}

export interface TaskResult {
  name: string;
  type: "zeroshot" | "retrieval";
  /** Name of the main metric ("top1" or "mean_recall@1") and its value. */
  metric: string;
  value: number;
  result: ZeroShotResult | RetrievalResult;
}

export interface SuiteResult {
  suite: string;
  tasks: TaskResult[];
  /** Mean of the tasks' main metrics. */
  average: number;
  /** Flat `name/metric -> value` map for training logs. */
  scalars: Record<string, number>;
}

export interface RunSuiteOptions {
  /** Image decoder; default: the loader's eval transform for this model (closed at the end). */
  decode?: DecodeFn;
  /** Normalization / workers of the default decoder (pass the training config's mean/std). */
  image?: EvalImageOptions;
  batchSize?: number;
  quiet?: boolean;
  /** Classifier cache (checkpoint content hash + folder); omit during training, when weights change every step. */
  cache?: { dir: string; weightsHash: string };
  /** Called after each task (e.g. to print it). */
  onTask?: (r: TaskResult) => void;
}

/**
 * Run every task of a suite on a model: the entry point for `clipts eval suite`
 * and for evaluation during training (log `scalars` every N steps).
 */
export async function runEvalSuite(model: ClipModel, tokenizer: EvalTokenizer, suite: EvalSuite, opts: RunSuiteOptions = {}): Promise<SuiteResult> {
  if (opts.decode) return runTasks(model, tokenizer, suite, { ...opts, decode: opts.decode });
  const dec = createEvalDecoder(model.config, opts.image);
  try {
    return await runTasks(model, tokenizer, suite, { ...opts, decode: dec.decode });
  } finally {
    await dec.close();
  }
}

async function runTasks(model: ClipModel, tokenizer: EvalTokenizer, suite: EvalSuite, opts: RunSuiteOptions & { decode: DecodeFn }): Promise<SuiteResult> {
  const tasks: TaskResult[] = [];
  for (const t of suite.tasks) {
    const batchSize = t.batchSize ?? suite.batchSize ?? opts.batchSize;
    let tr: TaskResult;
    if (t.type === "zeroshot") {
      const { naming, templates } = zeroShotNaming(t);
      const source = {
        dataset: t.dataset,
        naming,
        templates,
        decode: opts.decode,
        perClass: t.perClass,
        batchSize,
        quiet: opts.quiet,
        cache: opts.cache,
        label: `${t.name} images`,
      };
      const r = t.dataDir ? await zeroShotImageFolder(model, tokenizer, { ...source, dataDir: t.dataDir }) : await zeroShotShards(model, tokenizer, { ...source, shards: t.shards! });
      tr = { name: t.name, type: "zeroshot", metric: "top1", value: r.top1, result: r };
    } else {
      const split = t.captions ? await readCaptionJsonl(t.captions, { imageRoot: t.imageRoot, limit: t.limit }) : await readCaptionShards(t.shards!, { limit: t.limit });
      const r = await evaluateRetrieval(model, tokenizer, split, opts.decode, { dataset: t.name, batchSize, quiet: opts.quiet });
      tr = { name: t.name, type: "retrieval", metric: "mean_recall@1", value: r.meanRecallAt1, result: r };
    }
    tasks.push(tr);
    opts.onTask?.(tr);
  }
  const average = tasks.reduce((a, t) => a + t.value, 0) / tasks.length;
  return { suite: suite.name ?? (suite.file ? path.basename(suite.file) : "suite"), tasks, average, scalars: suiteScalars(tasks, average) };
}

function suiteScalars(tasks: TaskResult[], average: number): Record<string, number> {
  const s: Record<string, number> = {};
  for (const t of tasks) {
    if (t.result.task === "zeroshot") {
      s[`${t.name}/top1`] = t.result.top1;
      s[`${t.name}/top5`] = t.result.top5;
      s[`${t.name}/mean_per_class`] = t.result.meanPerClass;
    } else {
      for (const [k, v] of Object.entries(t.result.imageToText)) s[`${t.name}/image_to_text_R@${k}`] = v;
      for (const [k, v] of Object.entries(t.result.textToImage)) s[`${t.name}/text_to_image_R@${k}`] = v;
      s[`${t.name}/mean_recall@1`] = t.result.meanRecallAt1;
    }
  }
  s["average"] = average;
  return s;
}

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(2) : "-");

/** One Markdown table: a row per task, then the average. Numbers in percent. */
export function suiteMarkdown(r: SuiteResult): string {
  const rows = [
    `| task | type | main metric | value | details | images | texts |`,
    `| --- | --- | --- | ---: | --- | ---: | ---: |`,
  ];
  for (const t of r.tasks) {
    if (t.result.task === "zeroshot") {
      const z = t.result;
      rows.push(`| ${t.name} | zero-shot | top-1 | ${pct(z.top1)} | top-5 ${pct(z.top5)}, mean per class ${pct(z.meanPerClass)} | ${z.images} | ${z.classes} classes |`);
    } else {
      const x = t.result;
      const i2t = Object.entries(x.imageToText).map(([k, v]) => `R@${k} ${pct(v)}`).join(" ");
      const t2i = Object.entries(x.textToImage).map(([k, v]) => `R@${k} ${pct(v)}`).join(" ");
      rows.push(`| ${t.name} | retrieval | mean R@1 | ${pct(x.meanRecallAt1)} | image→text ${i2t}; text→image ${t2i} | ${x.images} | ${x.texts} |`);
    }
  }
  rows.push(`| **average** | | | **${pct(r.average)}** | over ${r.tasks.length} task(s) | | |`);
  return rows.join("\n") + "\n";
}

/** Write a suite result as JSON, atomically. */
export async function writeSuiteResult(file: string, r: SuiteResult, meta: Record<string, unknown> = {}): Promise<void> {
  await writeJsonAtomic(file, { ...meta, ...r });
}
