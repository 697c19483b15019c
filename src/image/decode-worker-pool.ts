// A fixed pool of decode workers (node:worker_threads). Jobs go to the
// least-loaded worker; each worker holds at most `perWorker` jobs. Results
// come back as promises, so the caller decides the order in which it uses
// them (the loader fixes sample order before decoding).
//
// Jobs asked for in the same tick travel together: one message carries up to
// `perMessage` jobs and one reply carries their pixels, transferred rather
// than copied. A message costs both threads a wake-up; for small images that
// was most of the work.
//
// With an output ring (a Float32Array over a SharedArrayBuffer), a job that
// names a slot is normalized by the worker straight into that slot and its
// reply carries no pixels: the main thread then does no per-pixel work and
// collects no garbage per image (the loader's hot path). A job may name
// where its bytes lie in a file (a FileSpan) instead of carrying them: the
// worker reads them there, so the main thread neither copies nor sends them.
import { closeSync, openSync, readSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { workerEntry } from "../util/worker-entry.js";
import { normalizeInto, transformToRgb, type ImageFailure, type TransformSpec } from "./transforms.js";
import type { TokenizerSpec } from "../text/tokenizer.js";
import type { FileSpan } from "../formats/types.js";

export interface DecodeRequest {
  id: number;
  /** The encoded image, or where to read it. */
  bytes: Uint8Array | FileSpan;
  seed: number;
  /** Ring slot to normalize into (the reply then has no pixels). */
  slot?: number;
  /** Caption to tokenize into the same slot of the token ring (pools made with a tokenizer). */
  caption?: string;
}

/** Why a job gave no pixels: the image's, or its bytes could not be read from their file. */
export type DecodeFailure = ImageFailure | "read-error";

export type DecodeReply =
  | { id: number; ok: true; rgb?: Uint8Array }
  | { id: number; ok: false; reason: DecodeFailure; message: string };

/** One message each way: a group of jobs, then their replies in the same order. */
export interface DecodeJobs {
  jobs: DecodeRequest[];
}
export interface DecodeReplies {
  replies: DecodeReply[];
}

/** Transformed sRGB uint8 HWC pixels (size x size x 3), not yet normalized. */
export type DecodeResult =
  | { ok: true; rgb: Uint8Array }
  | { ok: false; reason: DecodeFailure; message: string };

/** A job normalized into a ring slot: only whether it worked. */
export type SlotResult = { ok: true } | { ok: false; reason: DecodeFailure; message: string };

/** Captions tokenized by the workers, beside the pixels: each worker loads `spec`. */
export interface WorkerTokens {
  spec: TokenizerSpec;
  contextLength: number;
  /** One row of contextLength int32 ids per ring slot, over a SharedArrayBuffer. */
  ring: Int32Array;
}

/** What a worker is started with. */
export interface DecodeWorkerData {
  spec: TransformSpec;
  /** Output ring: slots of size*size*3 float32 values, over a SharedArrayBuffer. */
  ring: Float32Array | null;
  tokens: WorkerTokens | null;
}

/** Normalizes a job's pixels into its ring slot (both threads use this). */
export function writeSlot(ring: Float32Array, slot: number, rgb: Uint8Array, spec: TransformSpec): void {
  const pixels = spec.size * spec.size * 3;
  if (rgb.length !== pixels || (slot + 1) * pixels > ring.length) {
    throw new Error(`decode ring: slot ${slot} of ${ring.length / pixels} cannot take ${rgb.length} values`);
  }
  normalizeInto(rgb, ring, slot * pixels, spec.mean, spec.std);
}

/**
 * A job's encoded bytes: its own, or read from its file span (a file opened
 * per image: ~10 µs beside a ~1.5 ms decode, and no descriptors left open
 * when a worker is terminated).
 */
export function jobBytes(image: Uint8Array | FileSpan): Uint8Array | { ok: false; reason: "read-error"; message: string } {
  if (image instanceof Uint8Array) return image;
  const { file, offset, length } = image;
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const out = new Uint8Array(length);
    let n = 0;
    while (n < length) {
      const got = readSync(fd, out, n, length - n, offset + n);
      if (got === 0) throw new Error(`file ends before byte ${offset + length}`);
      n += got;
    }
    return out;
  } catch (err) {
    return { ok: false, reason: "read-error", message: `${file}: cannot read image bytes ${offset}..${offset + length} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export interface DecodePoolOptions {
  /**
   * Output slots for decodeInto: a Float32Array over a SharedArrayBuffer, a
   * multiple of size*size*3 values.
   */
  ring?: Float32Array | null;
  /** With a ring: the workers also tokenize each job's caption into its slot (not with size 0: the caller tokenizes then). */
  tokens?: WorkerTokens | null;
  /** Jobs queued per worker (default 8: more than one message's worth hides the round trips). */
  perWorker?: number;
  /** Jobs per message at most (default 4). */
  perMessage?: number;
}

interface Slot {
  worker: Worker;
  inFlight: number;
}

export class DecodePool {
  private slots: Slot[] = [];
  private pending = new Map<number, { resolve: (r: DecodeResult | SlotResult) => void; reject: (e: Error) => void }>();
  private waiting: { req: DecodeRequest; mine: boolean; resolve: (r: DecodeResult | SlotResult) => void; reject: (e: Error) => void }[] = [];
  private nextId = 0;
  private dispatchQueued = false;
  private closed = false;
  private failure: Error | null = null;

  /** See DecodePoolOptions. */
  private readonly perWorker: number;
  private readonly perMessage: number;
  readonly ring: Float32Array | null;
  readonly tokens: WorkerTokens | null;

  /**
   * @param size number of worker threads; 0 decodes on the calling thread
   *   (sharp still runs off the JS thread on libuv's pool).
   */
  constructor(
    readonly spec: TransformSpec,
    readonly size: number,
    options: DecodePoolOptions = {},
  ) {
    const { ring = null, tokens = null } = options;
    this.perWorker = options.perWorker ?? 8;
    this.perMessage = options.perMessage ?? 4;
    this.ring = ring;
    this.tokens = tokens;
    if (ring && !(ring.buffer instanceof SharedArrayBuffer)) throw new Error("DecodePool: the output ring must be backed by a SharedArrayBuffer");
    if (tokens && !(tokens.ring.buffer instanceof SharedArrayBuffer)) throw new Error("DecodePool: the token ring must be backed by a SharedArrayBuffer");
    if (size === 0) return;
    // sharp runs each image on the process-wide libuv pool (default 4
    // threads), so more workers than that pool only queue up there.
    const uvThreads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    if (size > uvThreads) {
      process.emitWarning(`decode workers (${size}) exceed UV_THREADPOOL_SIZE (${uvThreads}); set UV_THREADPOOL_SIZE>=${size} before starting node to use them all`);
    }
    const entry = workerEntry(new URL("./decode-worker.js", import.meta.url));
    for (let i = 0; i < size; i++) {
      const data: DecodeWorkerData = { spec, ring, tokens };
      const worker = new Worker(entry.entry, { workerData: data, eval: entry.eval });
      const slot: Slot = { worker, inFlight: 0 };
      worker.on("message", ({ replies }: DecodeReplies) => {
        for (const reply of replies) {
          slot.inFlight--;
          const p = this.pending.get(reply.id);
          this.pending.delete(reply.id);
          if (!p) continue;
          if (!reply.ok) p.resolve({ ok: false, reason: reply.reason, message: reply.message });
          else p.resolve(reply.rgb ? { ok: true, rgb: reply.rgb } : { ok: true });
        }
        this.dispatch();
      });
      // A crashed worker is a bug or resource exhaustion, not bad data:
      // fail every job loudly rather than silently dropping samples.
      worker.on("error", (e) => this.fail(e));
      worker.on("exit", (code) => {
        if (!this.closed) this.fail(new Error(`decode worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  /** Decode, orient, crop and resize one image; `seed` drives its random crop. */
  decode(bytes: Uint8Array, seed: number): Promise<DecodeResult> {
    return this.submit(bytes, seed, undefined) as Promise<DecodeResult>;
  }

  /**
   * Like decode(), normalized into slot `slot` of the ring (CLIP mean/std of
   * the spec). With `give`, the caller hands over `bytes` (a whole buffer of
   * its own, as the loader's rows are): it moves to the worker instead of
   * being copied, and is detached afterwards.
   */
  decodeInto(image: Uint8Array | FileSpan, seed: number, slot: number, give = false, caption?: string): Promise<SlotResult> {
    const ring = this.ring;
    if (!ring) throw new Error("DecodePool.decodeInto needs a pool made with an output ring");
    return this.submit(image, seed, slot, give, caption) as Promise<SlotResult>;
  }

  private submit(image: Uint8Array | FileSpan, seed: number, slot: number | undefined, give = false, caption?: string): Promise<DecodeResult | SlotResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.size === 0) {
      const bytes = jobBytes(image);
      if (!(bytes instanceof Uint8Array)) return Promise.resolve(bytes);
      return transformToRgb(bytes, this.spec, seed).then((r) => {
        if (!r.ok || slot === undefined) return r.ok ? { ok: true, rgb: r.rgb } : r;
        writeSlot(this.ring!, slot, r.rgb, this.spec);
        return { ok: true };
      });
    }
    // Posting a view clones its whole backing ArrayBuffer (e.g. a whole Arrow
    // shard), so send a tight copy.
    // (Uint8Array's slice copies; a Buffer's own slice() would be a view.)
    const own = !(image instanceof Uint8Array) || (image.byteOffset === 0 && image.byteLength === image.buffer.byteLength) ? image : Uint8Array.prototype.slice.call(image);
    // Our own copy moves to the worker; the caller's buffer is cloned, not taken, unless given.
    const mine = own instanceof Uint8Array && (own !== image || give);
    return new Promise((resolve, reject) => {
      const req: DecodeRequest = { id: this.nextId++, bytes: own, seed, ...(slot === undefined ? {} : { slot }), ...(caption === undefined ? {} : { caption }) };
      this.waiting.push({ req, mine, resolve, reject });
      // Dispatch once the current macrotask and its microtasks are done, so
      // that its requests share messages: the loader submits one job per
      // microtask (each behind an await), so a microtask here sent 1 job per
      // message and woke both threads once per image.
      if (!this.dispatchQueued) {
        this.dispatchQueued = true;
        setImmediate(() => {
          this.dispatchQueued = false;
          this.dispatch();
        });
      }
    });
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      let best: Slot | undefined;
      for (const s of this.slots) if (s.inFlight < this.perWorker && (!best || s.inFlight < best.inFlight)) best = s;
      if (!best) return;
      const n = Math.min(this.perMessage, this.perWorker - best.inFlight, this.waiting.length);
      const group = this.waiting.splice(0, n);
      best.inFlight += n;
      for (const job of group) this.pending.set(job.req.id, { resolve: job.resolve, reject: job.reject });
      const msg: DecodeJobs = { jobs: group.map((j) => j.req) };
      try {
        best.worker.postMessage(msg, group.filter((j) => j.mine).map((j) => (j.req.bytes as Uint8Array).buffer as ArrayBuffer));
      } catch (e) {
        // A message that cannot be sent fails its own jobs, not the pool.
        best.inFlight -= n;
        for (const job of group) {
          this.pending.delete(job.req.id);
          job.reject(e instanceof Error ? e : new Error(String(e)));
        }
      }
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const p of this.pending.values()) p.reject(e);
    for (const w of this.waiting) w.reject(e);
    this.pending.clear();
    this.waiting = [];
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots = [];
  }
}
