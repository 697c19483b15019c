// The loader's shards, opened on a reader worker thread: an Arrow shard is
// read, hashed and parsed there, a webdataset tar is parsed there
// (tar-shard.ts), and only the rows' metadata comes back: keys, captions,
// labels, and where each image lies in the shard's file. The decode workers
// read the images there (a FileSpan), so the main thread never holds a
// shard's bytes: reading a 100 MB shard on it cost a full garbage collection
// per shard (V8 collects on external-memory growth), ~0.025 ms per image.
// A local tar's images are spans of the tar (its members' offsets). A
// `pipe:` stream cannot be read twice, so its images come back as bytes, in
// a few large blocks moved rather than copied.
import { Worker } from "node:worker_threads";
import { workerEntry } from "../util/worker-entry.js";
import { InputError } from "../util/errors.js";
import type { ShardSkip } from "./shards.js";
import type { FileSpan } from "./types.js";

/** What the reader worker is asked to open. */
export type ShardRequest =
  | { kind: "arrow"; file: string; sha256?: string; expectedRows?: number }
  | { kind: "tar"; name: string; source: string; expectedRows?: number };

/**
 * A column of strings as UTF-8 bytes and offsets: a shard's keys and
 * captions arrive as a few buffers, not 10,000s of strings that would live
 * long enough to become old-generation garbage on the main thread (its heap
 * grew 1.6x with them); each row's string is made when the row is read.
 */
export interface TextColumn {
  bytes: Uint8Array;
  /** Row i is bytes[offsets[i], offsets[i + 1]). */
  offsets: Float64Array;
  /** 1 where the row's value is null. */
  nulls: Uint8Array;
}

/** A shard's rows, column by column (cheap to send between threads). */
export interface ShardRows {
  /** The shard's name, for messages. */
  file: string;
  /** Readable rows (fewer than expected when the shard was cut short). */
  numRows: number;
  truncated: boolean;
  keys: TextColumn;
  captions: TextColumn;
  /** NaN where a row has no label. */
  labels: Float64Array;
  /** Each row's image: where it lies in `path` (length -1: none), or its bytes (null: none). */
  images: { path: string; offsets: Float64Array; lengths: Float64Array } | (Uint8Array | null)[];
}

/** The reader worker's answer to one request. */
export interface ShardReply {
  id: number;
  rows: ShardRows;
  sampleSkips: [string, string][];
  skip: ShardSkip | null;
  /** Set when reading failed: the error's message, and whether it was an InputError. */
  error?: { message: string; input: boolean };
}

export interface ShardRowsOptions {
  /** Told once when the shard is cut short or its hash differs (its readable rows are still given). */
  onSkip?: (info: ShardSkip) => void;
  /** Told for each sample of a tar that is not a row (no image, bad metadata). */
  onSampleSkip?: (key: string, reason: string) => void;
}

const utf8 = new TextDecoder();

/** Row `i` of a text column. */
export function textAt(col: TextColumn, i: number): string | null {
  return col.nulls[i] ? null : utf8.decode(col.bytes.subarray(col.offsets[i], col.offsets[i + 1]));
}

/** Strings (null for a missing value) as a TextColumn. */
export function textColumn(values: (string | null)[]): TextColumn {
  const encoded = values.map((v) => (v === null ? null : Buffer.from(v, "utf8")));
  const offsets = new Float64Array(values.length + 1);
  const nulls = new Uint8Array(values.length);
  encoded.forEach((e, i) => {
    offsets[i + 1] = offsets[i]! + (e?.length ?? 0);
    if (e === null) nulls[i] = 1;
  });
  const bytes = new Uint8Array(offsets[values.length]!);
  encoded.forEach((e, i) => e && bytes.set(e, offsets[i]));
  return { bytes, offsets, nulls };
}

/** Row `i`'s image: a span of the shard's file, its bytes, or null. */
export function rowImage(rows: ShardRows, i: number): FileSpan | Uint8Array | null {
  const im = rows.images;
  if (Array.isArray(im)) return im[i] ?? null;
  const length = im.lengths[i]!;
  return length < 0 ? null : { file: im.path, offset: im.offsets[i]!, length };
}

/**
 * Ask the reader worker for a shard now (the loader asks for the next shard
 * while it uses the current one); `use` waits for its rows and tells its
 * skips then, so a shard read ahead is reported when it is reached. A
 * failure to read it is thrown by `use`.
 */
export function readShardRows(req: ShardRequest, ahead = false): { use: (opts?: ShardRowsOptions) => Promise<ShardRows> } {
  const r0 = reader();
  // A read ahead does not keep the process alive until it is used: a loader
  // stopped early must not wait for (or hang on) a shard it will never use.
  const { id, reply } = r0.read(req, !ahead);
  reply.catch(() => {});
  return {
    async use(opts = {}) {
      r0.hold(id);
      const r = await reply;
      for (const [key, reason] of r.sampleSkips) opts.onSampleSkip?.(key, reason);
      if (r.skip) opts.onSkip?.(r.skip);
      return r.rows;
    },
  };
}

type Waiter = { resolve: (r: ShardReply) => void; reject: (e: Error) => void };

/**
 * One reader worker per process, started on first use (its start-up loads
 * the Arrow and Parquet modules: ~0.2 CPU-s, too much to pay per shard). It
 * reads one shard at a time and holds the process open only while a shard
 * that will be used is asked for (`held`).
 */
interface Reader {
  read: (req: ShardRequest, held: boolean) => { id: number; reply: Promise<ShardReply> };
  /** The request's answer is now awaited: keep the process open until it comes. */
  hold: (id: number) => void;
}
let current: Reader | null = null;
function reader(): Reader {
  if (current) return current;
  const { entry, eval: isEval } = workerEntry(new URL("./shard-reader-worker.js", import.meta.url));
  const worker = new Worker(entry, { eval: isEval });
  worker.unref();
  const pending = new Map<number, Waiter & { held: boolean }>();
  const refresh = () => ([...pending.values()].some((w) => w.held) ? worker.ref() : worker.unref());
  let next = 0;
  const self: Reader = {
    read(req, held) {
      const id = next++;
      const reply = new Promise<ShardReply>((resolve, reject) => {
        pending.set(id, { resolve, reject, held });
        worker.postMessage({ ...req, id });
      });
      refresh();
      return { id, reply };
    },
    hold(id) {
      const w = pending.get(id);
      if (w && !w.held) {
        w.held = true;
        refresh();
      }
    },
  };
  const fail = (err: Error) => {
    if (current === self) current = null;
    for (const w of pending.values()) w.reject(err);
    pending.clear();
  };
  worker.on("message", (r: ShardReply) => {
    const w = pending.get(r.id);
    pending.delete(r.id);
    refresh();
    if (r.error) w?.reject(r.error.input ? new InputError(r.error.message) : new Error(r.error.message));
    else w?.resolve(r);
  });
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`shard reader worker exited with code ${code}`)));
  return (current = self);
}
