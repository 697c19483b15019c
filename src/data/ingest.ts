// `clipts data ingest`: read img2dataset webdataset tars, class folders or
// JSONL/CSV/parquet tables and write fixed-size Arrow IPC shards plus a
// manifest. Every bad sample is skipped and counted with its key and reason;
// only structural problems (missing input, unknown format, unreadable
// parquet schema) stop the run, before any shard is written where possible.
import { promises as fs } from "node:fs";
import path from "node:path";
import { shardPath, type ShardSpec } from "../util/job-array.js";
import { InputError } from "../util/errors.js";
import { progress } from "../util/progress.js";
import { isSkip, extOf, type FormatSource, type RawItem, type ReaderItem } from "../formats/input/common.js";
import { readCsvTable } from "../formats/input/csv.js";
import { readFolder } from "../formats/input/folder.js";
import { readJsonlTable } from "../formats/input/jsonl.js";
import { readParquetTable } from "../formats/input/parquet.js";
import type { TableColumns } from "../formats/input/table.js";
import { listTars, readWds } from "../formats/input/wds.js";
import { checkImage, DEFAULT_MAX_PIXELS } from "./ingest-image.js";
import { DEFAULT_MAX_IMAGE_BYTES, ShardWriter, type ShardManifest } from "../formats/shards.js";
import { BoundedReadError, readFileBounded } from "../util/bounded-read.js";
import type { Sample } from "../formats/types.js";

export { INGEST_FORMATS, type IngestFormat } from "../formats/input/common.js";
import { INGEST_FORMATS, type IngestFormat } from "../formats/input/common.js";

export interface IngestOptions {
  /**
   * Job-array part: this task ingests the input files index, index+count, ...
   * (a folder of tars counts as its tars) into `output` with "{shard}"
   * replaced by the index, else "-i-of-n" appended; `data merge-shards` joins
   * the parts into one shard folder.
   */
  shard?: ShardSpec;
  /** Input paths: a .tar or a folder of them, a class folder, a table file. */
  input: string | string[];
  /** Output folder for shards and manifest.json. */
  output: string;
  format?: IngestFormat;
  /** Rows per shard (the last shard holds the rest). Default 1000. */
  rowsPerShard?: number;
  /**
   * Repeated keys are detected within windows of this many consecutive written
   * rows (default max(rowsPerShard, 65536)); a repeat further apart is kept.
   * Bounded so ingest's memory does not grow with the pool.
   */
  duplicateWindow?: number;
  /** Rows per Arrow record batch inside a shard. Default 64. */
  batchRows?: number;
  /** Table column names (JSONL/CSV/parquet). */
  columns?: TableColumns;
  /** CSV delimiter (default "," or tab for .tsv). */
  delimiter?: string;
  /** Images longer than this are skipped and counted (default 256 MiB, at most 1 GiB: Arrow Binary offsets are int32). */
  maxImageBytes?: number;
  /** Image+caption bytes per record batch / per shard (defaults 256 MiB / 1 GiB; tests set them small). */
  maxBatchBytes?: number;
  maxShardBytes?: number;
  /** Pixel cap against decompression bombs (default 89,478,485 as PIL). */
  maxPixels?: number;
  /** Fully decode each image to catch truncated/corrupt files (default true). */
  decode?: boolean;
  /** Images checked at once (default 4). */
  concurrency?: number;
  quiet?: boolean;
}

export interface IngestResult {
  manifest: ShardManifest;
  output: string;
}

/** Pick the reader for an input path. */
export async function detectFormat(input: string): Promise<Exclude<IngestFormat, "auto">> {
  const st = await fs.stat(input).catch(() => null);
  if (!st) throw new InputError(`${input}: input not found`);
  if (st.isFile()) {
    const name = input.toLowerCase();
    if (name.endsWith(".tar")) return "wds";
    if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) return "jsonl";
    if (name.endsWith(".csv") || name.endsWith(".tsv")) return "csv";
    if (name.endsWith(".parquet")) return "parquet";
    throw new InputError(`${input}: unknown input format (expected .tar, .jsonl, .csv, .tsv, .parquet or a folder); set --format`);
  }
  const names = await fs.readdir(input);
  if (names.some((n) => n.toLowerCase().endsWith(".tar"))) return "wds";
  return "folder";
}

async function openSource(input: string, format: Exclude<IngestFormat, "auto">, opts: IngestOptions): Promise<FormatSource> {
  const cols = opts.columns ?? {};
  switch (format) {
    case "wds":
      return readWds(input, { maxImageBytes: opts.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES });
    case "folder":
      return readFolder(input);
    case "jsonl":
      return readJsonlTable(input, cols);
    case "csv":
      return readCsvTable(input, cols, opts.delimiter ?? (extOf(input) === "tsv" ? "\t" : ","));
    case "parquet":
      return readParquetTable(input, cols);
  }
}

/** Validate options before any work: a bad config fails first. */
function checkOptions(opts: IngestOptions): { inputs: string[]; rowsPerShard: number; maxPixels: number; concurrency: number } {
  const inputs = (Array.isArray(opts.input) ? opts.input : [opts.input]).filter((s) => s !== undefined && s !== "");
  if (inputs.length === 0) throw new InputError("--input: name at least one input");
  if (!opts.output) throw new InputError("--output: name the output folder");
  const format = opts.format ?? "auto";
  if (!INGEST_FORMATS.includes(format)) throw new InputError(`--format: unknown format "${format}" (one of ${INGEST_FORMATS.join(", ")})`);
  const rowsPerShard = opts.rowsPerShard ?? 1000;
  if (!Number.isInteger(rowsPerShard) || rowsPerShard < 1) throw new InputError(`--rows-per-shard must be a positive integer, got ${rowsPerShard}`);
  if (opts.batchRows !== undefined && (!Number.isInteger(opts.batchRows) || opts.batchRows < 1)) throw new InputError(`--batch-rows must be a positive integer, got ${opts.batchRows}`);
  // The writer checks the byte caps' ranges; build one now so a bad value fails before any input is read.
  new ShardWriter(opts.output ?? ".", { rowsPerShard, batchRows: opts.batchRows, maxImageBytes: opts.maxImageBytes, maxBatchBytes: opts.maxBatchBytes, maxShardBytes: opts.maxShardBytes });
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels > 0)) throw new InputError(`--max-pixels must be positive, got ${maxPixels}`);
  const concurrency = opts.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InputError(`--concurrency must be a positive integer, got ${concurrency}`);
  const out = path.resolve(opts.output);
  for (const i of inputs) {
    if (path.resolve(i) === out) throw new InputError(`--output ${opts.output} is also an input`);
  }
  return { inputs, rowsPerShard, maxPixels, concurrency };
}

type Checked = { sample: Sample } | { key: string; skip: string };

/** Load (when a path) and check one item; captions first, as they are cheap. */
async function checkItem(item: RawItem, maxPixels: number, decode: boolean, maxImageBytes: number): Promise<Checked> {
  const key = item.key;
  if (item.captionInvalid) return { key, skip: "invalid UTF-8 caption" };
  if (typeof item.caption !== "string" || item.caption.trim() === "") return { key, skip: "missing caption" };
  let bytes = item.image;
  if (!bytes) {
    if (!item.imagePath) return { key, skip: "missing image path" };
    try {
      bytes = await readFileBounded(item.imagePath, maxImageBytes, "image");
    } catch (err) {
      if (!(err instanceof BoundedReadError)) throw err;
      if (err.kind === "not found") return { key, skip: `image not found: ${item.imagePath}` };
      if (err.kind === "unreadable") return { key, skip: `cannot read image ${item.imagePath} (${err.detail})` };
      // "image too large: PATH (...)", "image not a regular file: PATH (a FIFO)": the kind is counted, the path listed.
      return { key, skip: `image ${err.kind}: ${item.imagePath} (${err.detail})` };
    }
  }
  const check = await checkImage(bytes, { maxPixels, decode });
  if (!check.ok) return { key, skip: check.reason };
  const sample: Sample = { key, caption: item.caption, image: bytes, width: check.width, height: check.height };
  if (item.label !== undefined) sample.label = item.label;
  if (item.lang !== undefined) sample.lang = item.lang;
  if (item.extra && Object.keys(item.extra).length > 0) sample.extra = item.extra;
  return { sample };
}

/** Ingest the inputs into shards under `opts.output`. */
/** A job-array task's inputs (the input files i, i+n, ...; a folder of tars is its tars) and its output folder. */
async function shardInputs(inputs: string[], o: IngestOptions, shard: ShardSpec): Promise<{ input: string[]; output: string }> {
  const files: string[] = [];
  for (const input of inputs) {
    const st = await fs.stat(input).catch(() => null);
    if (!st) throw new InputError(`${input}: input not found`);
    if (st.isDirectory() && (o.format ?? "auto") !== "folder" && (await detectFormat(input)) === "wds") files.push(...(await listTars(input)));
    else if (st.isDirectory()) throw new InputError(`${input}: a class folder cannot be split over a job array (--shard); ingest it in one task`);
    else files.push(input);
  }
  const mine = files.filter((_, k) => k % shard.count === shard.index);
  if (mine.length === 0) throw new InputError(`--shard ${shard.index}/${shard.count}: no input file for this task (${files.length} input file(s) for ${shard.count} tasks)`);
  return { input: mine, output: shardPath(o.output, shard) };
}

export async function ingest(opts: IngestOptions): Promise<IngestResult> {
  if (opts.shard) opts = { ...opts, ...(await shardInputs(checkOptions(opts).inputs, opts, opts.shard)), shard: undefined };
  const { inputs, rowsPerShard, maxPixels, concurrency } = checkOptions(opts);
  const decode = opts.decode ?? true;
  const maxImageBytes = opts.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  // Open every source first: structural errors surface before any shard is written.
  const sources: { input: string; format: string; source: FormatSource }[] = [];
  for (const input of inputs) {
    const format = opts.format && opts.format !== "auto" ? opts.format : await detectFormat(input);
    if (!(await fs.stat(input).catch(() => null))) throw new InputError(`${input}: input not found`);
    sources.push({ input, format, source: await openSource(input, format, opts) });
  }
  const withClasses = sources.filter((s) => s.source.classes);
  if (withClasses.length > 1) throw new InputError(`--input: only one class-folder input per run (got ${withClasses.map((s) => s.input).join(", ")})`);
  const classes = withClasses[0]?.source.classes;

  const writer = new ShardWriter(opts.output, {
    rowsPerShard,
    batchRows: opts.batchRows,
    maxImageBytes: opts.maxImageBytes,
    maxBatchBytes: opts.maxBatchBytes,
    maxShardBytes: opts.maxShardBytes,
  });
  await writer.start();
  const total = sources.reduce((s, x) => s + x.source.total, 0);
  const bar = progress("ingest", total, { unit: "img", fields: ["skipped"], quiet: opts.quiet });
  // Keys must identify rows downstream (curation joins, eval); a repeat is skipped.
  // Bounded state only: repeats are detected within windows of `window`
  // consecutive written rows (whole output shards when shards are cut by row
  // count), so memory does not grow with the pool; a repeat further apart is kept.
  const window = opts.duplicateWindow ?? Math.max(rowsPerShard, 65536);
  if (!Number.isInteger(window) || window < 1) throw new InputError(`duplicateWindow must be a positive integer, got ${window}`);
  let seen = new Set<string>();
  const record = async (c: Checked) => {
    if ("sample" in c && seen.size >= window) seen = new Set<string>();
    if ("sample" in c && seen.has(c.sample.key)) writer.skip(c.sample.key, "duplicate key");
    else if ("sample" in c) {
      seen.add(c.sample.key);
      await writer.add(c.sample);
    } else writer.skip(c.key, c.skip);
    bar.increment(1, { skipped: writer.skipped });
  };
  try {
    for (const { source } of sources) {
      // A window of image checks in flight, consumed in input order.
      const window: Promise<Checked>[] = [];
      for await (const item of source.items as AsyncIterable<ReaderItem>) {
        window.push(isSkip(item) ? Promise.resolve({ key: item.key, skip: item.skip }) : checkItem(item, maxPixels, decode, maxImageBytes));
        if (window.length >= concurrency) await record(await window.shift()!);
      }
      while (window.length) await record(await window.shift()!);
    }
  } catch (err) {
    // The previous dataset was never touched; drop this run's staged shards.
    await writer.abort();
    throw err;
  } finally {
    bar.stop();
  }
  const manifest = await writer.finish({
    ...(classes ? { classes } : {}),
    source: { inputs: sources.map((s) => ({ input: s.input, format: s.format, files: s.source.files.length })), maxPixels },
  });
  return { manifest, output: opts.output };
}
