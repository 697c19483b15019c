// One webdataset tar opened as a shard of the loader (the OpenedShard an Arrow
// shard gives): its samples are read in member order with the ingest's tar
// reader (formats/wds.ts), so a tar read in place and the same tar ingested
// into an Arrow shard give the same rows. Like an Arrow shard, one tar's rows
// are held while it is read (tars are 0.5-1 GB; each member its own buffer,
// never one buffer for the tar). A sample that cannot be used is skipped and
// reported with its key; a cut tar or a failed `pipe:` command keeps the rows
// read before the cut and is reported like a cut Arrow shard.
import { Worker } from "node:worker_threads";
import type { OpenedShard, ReadShardOptions, ShardSkip } from "./shards.js";
import { workerEntry } from "../util/worker-entry.js";
import { InputError } from "../util/errors.js";
import type { Sample } from "./types.js";
import { DEFAULT_MAX_IMAGE_BYTES } from "./shards.js";
import { isSkip } from "./input/common.js";
import { readTarSamples } from "./input/wds.js";

export interface TarShardOptions extends ReadShardOptions {
  /** Told for each sample of the tar that has no usable image or metadata (the loader counts it). */
  onSampleSkip?: (key: string, reason: string) => void;
  /** Where members' bytes go (WdsLimits.allocate). */
  allocate?: (size: number) => Buffer;
}

/** Read a tar (a path or a `pipe:` command) named `name` as a shard. */
export async function openTarShard(name: string, source: string, opts: TarShardOptions = {}): Promise<OpenedShard> {
  const rows: Sample[] = [];
  let cut: string | undefined;
  for await (const item of readTarSamples(source, { maxImageBytes: DEFAULT_MAX_IMAGE_BYTES, allocate: opts.allocate })) {
    if (isSkip(item)) {
      // The reader's last word on a cut tar or a failed command.
      if (/^(broken tar|truncated tar member)/.test(item.skip)) cut = item.skip;
      else opts.onSampleSkip?.(item.key, item.skip);
      continue;
    }
    const s: Sample = {
      key: item.key,
      caption: item.captionInvalid ? (null as unknown as string) : ((item.caption ?? null) as string),
      image: item.image!,
      width: 0,
      height: 0,
    };
    if (item.label !== undefined) s.label = item.label;
    if (item.lang !== undefined) s.lang = item.lang;
    rows.push(s);
  }
  const expected = opts.expectedRows !== undefined && opts.expectedRows >= 0 ? opts.expectedRows : undefined;
  if (cut !== undefined) {
    opts.onSkip?.({ shard: name, rows: expected !== undefined ? Math.max(0, expected - rows.length) : null, readRows: rows.length, reason: cut });
  }
  return {
    file: name,
    numRows: rows.length,
    truncated: cut !== undefined,
    ...(cut !== undefined ? { error: cut } : {}),
    ...(cut !== undefined && expected !== undefined ? { skippedRows: Math.max(0, expected - rows.length) } : {}),
    columns: ["key", "caption", "image", "label"],
    get: (row) => rows[row]!,
  };
}

/**
 * openTarShard on a worker thread, for the loader: the tar is parsed there
 * (the main thread would spend ~0.1 ms per sample on it) and its members'
 * bytes arrive in a few large blocks, moved rather than copied.
 * Skips are told after the tar is read, before any row is used.
 */
export async function openTarShardInWorker(name: string, source: string, opts: TarShardOptions = {}): Promise<OpenedShard> {
  const r = await tarReader().read({ name, source, expectedRows: opts.expectedRows });
  for (const [key, reason] of r.sampleSkips) opts.onSampleSkip?.(key, reason);
  if (r.skip) opts.onSkip?.(r.skip);
  const { rows, ...rest } = r.shard;
  return { ...rest, get: (row) => rows[row]! };
}

/** A request to the tar reader worker, and its answer. */
export interface TarWorkerRequest {
  id: number;
  name: string;
  source: string;
  expectedRows?: number;
}
export interface TarWorkerResult {
  id: number;
  shard: Omit<OpenedShard, "get"> & { rows: Sample[] };
  sampleSkips: [string, string][];
  skip: ShardSkip | null;
  /** Set when reading failed: the error's message, and whether it was an InputError. */
  error?: { message: string; input: boolean };
}

type Waiter = { resolve: (r: TarWorkerResult) => void; reject: (e: Error) => void };

/**
 * One reader worker per process, started on first use (its start-up loads
 * the Arrow and Parquet modules: ~0.2 CPU-s, too much to pay per tar). It
 * reads one tar at a time and holds the process open only while one is asked for.
 */
let reader: { read: (req: Omit<TarWorkerRequest, "id">) => Promise<TarWorkerResult> } | null = null;
function tarReader(): NonNullable<typeof reader> {
  if (reader) return reader;
  const { entry, eval: isEval } = workerEntry(new URL("./tar-shard-worker.js", import.meta.url));
  const worker = new Worker(entry, { eval: isEval });
  worker.unref();
  const pending = new Map<number, Waiter>();
  let next = 0;
  const self = {
    read(req: Omit<TarWorkerRequest, "id">): Promise<TarWorkerResult> {
      const id = next++;
      worker.ref();
      return new Promise<TarWorkerResult>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ ...req, id } satisfies TarWorkerRequest);
      });
    },
  };
  const fail = (err: Error) => {
    if (reader === self) reader = null;
    for (const w of pending.values()) w.reject(err);
    pending.clear();
  };
  worker.on("message", (r: TarWorkerResult) => {
    const w = pending.get(r.id);
    pending.delete(r.id);
    if (pending.size === 0) worker.unref();
    if (r.error) w?.reject(r.error.input ? new InputError(r.error.message) : new Error(r.error.message));
    else w?.resolve(r);
  });
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`tar reader worker exited with code ${code}`)));
  return (reader = self);
}
