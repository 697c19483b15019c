// Streaming loader: shard rows in a seeded order (sampler.ts) -> parallel
// decode + CLIP transform in worker threads (../image/decode-worker-pool.ts) ->
// batches of tfjs tensors. Order is fixed before decoding, results are used
// in that order, so batches do not depend on the number of workers. Memory is
// bounded by the shuffle buffer (rows' metadata; a `pipe:` tar's rows also
// hold their encoded bytes), the decode ring (`prefetch` + 1 batches of
// float32 images) and two shards' metadata (the current one and the next,
// read ahead; for `pipe:` tars, their bytes).
//
// The main thread handles rows' positions, not their bytes: shards are opened
// on a reader worker (formats/shard-reader.ts), the next one while the
// current one's rows are used, and each decode worker reads its row's image
// from the shard file itself (a FileSpan).
//
// The workers normalize each image straight into its slot of a shared ring
// (item k of the stream in slot k mod ring size), so the main thread does no
// per-pixel work: a batch whose slots are consecutive is handed to the
// backend as one view of the ring, any other is first packed with one copy
// per image. The ring holds `prefetch` batches in flight plus the batch being
// filled, so no slot is rewritten before its batch has been made a tensor.
// The torch backend on the CPU makes that view the batch tensor itself (no
// copy; uploadView): the loader ends the view's lease before a worker
// rewrites its slots, and a batch still held then gets its own copy.
//
// Semantics worth knowing:
// - Train mode: shard order is reshuffled per epoch from the seed, rows pass a
//   shuffle buffer that is drained at the end of each epoch (so an epoch holds
//   every kept row once), and random crops come from hashUniform(seed, "crop",
//   epoch, key). Eval mode: manifest order, resize + center crop.
// - Batches are cut from the continuous stream, so one batch may hold the end
//   of one epoch and the start of the next; `dropLast` only drops the final
//   partial batch of the whole run.
// - A bad row (no key, missing/empty caption, no image, undecodable,
//   too many pixels) is skipped and counted in stats() with its key; the
//   batch is filled from the next rows. A shard cut short contributes its
//   readable rows and is listed in stats().truncatedShards.
// - With splitBy "shard", ranks can get different numbers of shards and so
//   of batches; use resampled mode or splitBy "row" when every rank must run
//   the same number of steps.
// - Images: alpha is flattened on white by default (alpha: "drop" mimics
//   PIL's convert("RGB") in open_clip); grey, CMYK (ICC) and 16-bit inputs
//   become 8-bit sRGB; EXIF orientation is applied first.
// A tfjs backend must be registered by the caller (the trainer picks one).
import * as tf from "@tensorflow/tfjs-core";
import { hashUniform } from "../util/hash.js";
import { InputError } from "../util/errors.js";
import { DecodePool, type SlotResult, type WorkerTokens } from "../image/decode-worker-pool.js";
import { uploadView } from "../backend/index.js";
import { listShards } from "../formats/shards.js";
import { isTarPool, tarManifest } from "../formats/webdataset.js";
import { SampleStream, type OrderOptions, type StreamItem, type StreamState } from "./sampler.js";
import type { RepeatCount, SampleFilter, Selection } from "../formats/selection.js";
import { DEFAULT_TRANSFORM, type TransformSpec, type Triple } from "../image/transforms.js";
import type { Manifest } from "../formats/types.js";
import { loadTokenizer, type TokenizerSpec } from "../text/tokenizer.js";

/**
 * A training or evaluation batch. Images are float32 NHWC `[B, H, W, 3]`,
 * normalized with the configured mean/std; tokens are int32 `[B, context]`.
 */
export interface Batch {
  images: tf.Tensor4D;
  tokens: tf.Tensor2D;
  keys: string[];
  labels?: Int32Array;
}

export interface LoaderOptions {
  /**
   * Shard directory holding manifest.json, or a webdataset tar pool read in
   * place: a .tar, a folder of .tar, a brace list `dir/{00000..00099}.tar`,
   * `pipe:CMD` entries, several joined by `::` (formats/webdataset.ts).
   */
  dir: string;
  /**
   * Check each shard's sha256 when it is opened (default true); a shard that
   * differs gives no rows and is reported. The decode workers read images
   * from the file later: an image that can no longer be read there is
   * skipped as "read-error".
   */
  verifyHashes?: boolean;
  batchSize: number;
  /** Text -> token ids, `texts.length * contextLength` int32 values (row-major), on the main thread. */
  tokenize?: (texts: string[]) => Int32Array;
  /**
   * Or the tokenizer itself (loadTokenizer's spec): each decode worker loads
   * it and tokenizes a row's caption beside its image, so the main thread
   * does not (a CLIP caption costs ~45 µs there, half its work per image).
   * Give one of tokenize and tokenizer.
   */
  tokenizer?: TokenizerSpec;
  contextLength: number;
  /** "train" (default): random crops, shuffling; "eval": center crop, manifest order. */
  mode?: "train" | "eval";
  imageSize?: number;
  seed?: number;
  /** Epochs to iterate before the loader ends (default 1; Infinity for an endless stream). */
  epochs?: number;
  /** Decode worker threads (default 1; 0 decodes on the main thread). */
  workers?: number;
  /** Batches decoded ahead of the consumer (default 2). */
  prefetch?: number;
  /** Shuffle buffer size in samples (default 1000 in train mode). */
  shuffleBuffer?: number;
  resampled?: boolean;
  shardsPerEpoch?: number;
  rank?: number;
  worldSize?: number;
  splitBy?: "shard" | "row";
  selection?: Selection;
  sampler?: SampleFilter;
  /** Per-epoch copies of each row (see RepeatCount in sampler.ts). */
  repeats?: RepeatCount;
  /** Drop a last partial batch (default true in train mode, false in eval). */
  dropLast?: boolean;
  mean?: Triple;
  std?: Triple;
  scale?: [number, number];
  ratio?: [number, number];
  alpha?: Triple | "drop";
  limitInputPixels?: number;
  resumeFrom?: LoaderState;
  /**
   * Stream positions are remembered every this many rows (default 512); a
   * resume re-reads at most this many rows' order (no decoding) to catch up.
   */
  snapshotEvery?: number;
}

export interface LoaderBatch extends Batch {
  /** Epoch of the batch's last sample. */
  epoch: number;
  /** 0-based batch number since the start of the run (resumes continue it). */
  index: number;
}

/**
 * Why a row was skipped; "read-error": its image could not be read from its
 * shard file (changed or removed since it was opened); "bad-sample": a
 * webdataset tar's sample with no image or unusable metadata (not a row).
 */
export type SkipReason = "missing-key" | "bad-caption" | "missing-image" | "empty-image" | "read-error" | "decode-error" | "too-many-pixels" | "bad-sample";

export interface SkippedSample {
  key: string;
  shard: string;
  row: number;
  reason: SkipReason;
  message?: string;
}

export interface LoaderStats {
  /** Samples delivered in batches. */
  samples: number;
  batches: number;
  skipped: number;
  byReason: Partial<Record<SkipReason, number>>;
  /** Skips per shard file. */
  byShard: Record<string, { skipped: number; byReason: Partial<Record<SkipReason, number>> }>;
  /** The first MAX_SKIPPED_KEYS skipped samples (all are counted above). */
  skippedSamples: SkippedSample[];
  /** Shards cut short: rows lost (not in the counts above; their readable rows are used). */
  truncatedShards: Record<string, { lostRows: number | null; reason: string }>;
}

/** JSON-serializable position of a loader, taken between batches. */
export interface LoaderState {
  format: "clipts-loader-state";
  version: 1;
  /** Options that must match on resume. */
  fingerprint: Record<string, unknown>;
  /** A stream position at or before the consumer, and how many items to skip from it. */
  stream: StreamState;
  skip: number;
  stats: LoaderStats;
}

export const MAX_SKIPPED_KEYS = 1000;

interface Pending {
  item: StreamItem;
  /** Ring slot the worker writes the normalized image into. */
  slot: number;
  result: Promise<SlotResult | { ok: false; reason: SkipReason; message: string }>;
}

function emptyStats(): LoaderStats {
  return { samples: 0, batches: 0, skipped: 0, byReason: {}, byShard: {}, skippedSamples: [], truncatedShards: {} };
}

export class Loader implements AsyncIterable<LoaderBatch> {
  readonly spec: TransformSpec;
  private readonly o: Required<Pick<LoaderOptions, "batchSize" | "contextLength" | "seed" | "workers" | "prefetch" | "dropLast">> &
    LoaderOptions;
  private readonly order: OrderOptions;
  private manifest: Manifest | null = null;
  private statsNow: LoaderStats;
  /** Stream snapshots not yet passed by the consumer: [emitted count, state]. */
  private snaps: StreamState[] = [];
  /** Items consumed (all epochs), in stream order. */
  private consumed = 0;
  private started = false;
  private pool: DecodePool | null = null;
  private staging: Float32Array | null = null;
  /** Batch tensors over ring slots [first, end) or over `staging`, whose bytes must not change while they live. */
  private views: { first: number; end: number; release: () => void }[] = [];
  private stagingView: (() => void) | null = null;
  /** Token ids the workers wrote, a row of contextLength per ring slot (when they tokenize). */
  private tokenRing: Int32Array | null = null;
  /** Main-thread tokenizing: the caller's function, or the tokenizer loaded here (no workers). */
  private tokenizeHere: ((texts: string[]) => Int32Array) | null = null;

  constructor(options: LoaderOptions) {
    const train = (options.mode ?? "train") === "train";
    this.o = {
      seed: 0,
      workers: 1,
      prefetch: 2,
      dropLast: train,
      ...options,
    };
    const o = this.o;
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new InputError(`batchSize must be a positive integer, got ${o.batchSize}`);
    if (!Number.isInteger(o.contextLength) || o.contextLength < 1) throw new InputError(`contextLength must be a positive integer, got ${o.contextLength}`);
    if (!Number.isInteger(o.workers) || o.workers < 0) throw new InputError(`workers must be a non-negative integer, got ${o.workers}`);
    if (!Number.isInteger(o.prefetch) || o.prefetch < 1) throw new InputError(`prefetch must be a positive integer, got ${o.prefetch}`);
    if ((typeof o.tokenize === "function") === (o.tokenizer !== undefined)) throw new InputError("give one of tokenize (a function) and tokenizer (a tokenizer spec), not both or neither");
    this.spec = {
      ...DEFAULT_TRANSFORM,
      mode: train ? "train" : "eval",
      size: o.imageSize ?? DEFAULT_TRANSFORM.size,
      mean: o.mean ?? DEFAULT_TRANSFORM.mean,
      std: o.std ?? DEFAULT_TRANSFORM.std,
      scale: o.scale ?? DEFAULT_TRANSFORM.scale,
      ratio: o.ratio ?? DEFAULT_TRANSFORM.ratio,
      alpha: o.alpha ?? DEFAULT_TRANSFORM.alpha,
      limitInputPixels: o.limitInputPixels ?? DEFAULT_TRANSFORM.limitInputPixels,
    };
    const s = this.spec;
    if (!Number.isInteger(s.size) || s.size < 1) throw new InputError(`imageSize must be a positive integer, got ${s.size}`);
    if (!(s.scale[0] > 0 && s.scale[0] <= s.scale[1] && s.scale[1] <= 1)) throw new InputError(`scale must satisfy 0 < lo <= hi <= 1, got ${s.scale}`);
    if (!(s.ratio[0] > 0 && s.ratio[0] <= s.ratio[1])) throw new InputError(`ratio must satisfy 0 < lo <= hi, got ${s.ratio}`);
    if (s.std.some((v) => !(v > 0))) throw new InputError(`std must be positive, got ${s.std}`);
    this.order = {
      seed: o.seed,
      shuffle: train,
      shuffleBuffer: o.shuffleBuffer ?? (train ? 1000 : 0),
      resampled: o.resampled ?? false,
      shardsPerEpoch: o.shardsPerEpoch,
      rank: o.rank ?? 0,
      worldSize: o.worldSize ?? 1,
      splitBy: o.splitBy ?? "shard",
      epochs: o.epochs ?? 1,
      selection: o.selection,
      sampler: o.sampler,
      repeats: o.repeats,
      verifyHashes: o.verifyHashes ?? true,
      // Recorded by file (not added up), so re-opening a shard does not count twice.
      onShardSkip: (info) => {
        this.statsNow.truncatedShards[info.shard] = { lostRows: info.rows, reason: info.reason };
      },
      onSampleSkip: (shard, key, message) => this.recordSkip({ shard, row: -1, key }, "bad-sample", message),
    };
    this.statsNow = o.resumeFrom ? structuredClone(o.resumeFrom.stats) : emptyStats();
  }

  /** Skip counts (per reason, per shard, with keys) and delivered samples so far. */
  stats(): LoaderStats {
    return structuredClone(this.statsNow);
  }

  /** Position after the last batch delivered; pass as `resumeFrom` to continue exactly there. */
  state(): LoaderState {
    if (!this.started) {
      if (this.o.resumeFrom) return structuredClone(this.o.resumeFrom);
      const stream = SampleStream.initialState(this.order);
      return { format: "clipts-loader-state", version: 1, fingerprint: this.fingerprint(), stream, skip: 0, stats: this.stats() };
    }
    const snap = this.snapshotFor(this.consumed);
    return {
      format: "clipts-loader-state",
      version: 1,
      fingerprint: this.fingerprint(),
      stream: structuredClone(snap),
      skip: this.consumed - snap.emitted,
      stats: this.stats(),
    };
  }

  private fingerprint(): Record<string, unknown> {
    const { seed, shuffle, shuffleBuffer, resampled, shardsPerEpoch, rank, worldSize, splitBy } = this.order;
    return {
      seed, shuffle, shuffleBuffer, resampled, shardsPerEpoch: shardsPerEpoch ?? null, rank, worldSize, splitBy,
      batchSize: this.o.batchSize, shards: this.manifest?.shards.map((s) => s.file) ?? null,
    };
  }

  private snapshotFor(consumed: number): StreamState {
    let best: StreamState | undefined;
    for (const s of this.snaps) if (s.emitted <= consumed) best = s;
    if (!best) throw new Error(`no stream snapshot at or before item ${consumed}`);
    return best;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<LoaderBatch> {
    if (this.started) throw new Error("a Loader can be iterated once; create a new one (resumeFrom: state()) to continue");
    this.started = true;
    // A shard folder (manifest.json), or webdataset tars read in place.
    this.manifest = isTarPool(this.o.dir) ? tarManifest(this.o.dir) : await listShards(this.o.dir);
    let stream: SampleStream;
    const resume = this.o.resumeFrom;
    if (resume) {
      if (resume.format !== "clipts-loader-state" || resume.version !== 1) throw new InputError("resumeFrom is not a clipts loader state");
      // A state saved before the first batch has no shard list (shards: null).
      const want = JSON.stringify(this.fingerprint());
      const saved = { ...resume.fingerprint, shards: resume.fingerprint.shards ?? this.fingerprint().shards };
      if (JSON.stringify(saved) !== want) {
        throw new InputError(`resumeFrom was saved with different options: saved ${JSON.stringify(resume.fingerprint)}, now ${want}`);
      }
      stream = await SampleStream.restore(this.o.dir, this.manifest, this.order, resume.stream);
      this.snaps = [stream.snapshot()];
      // Replay the rows consumed after the snapshot (order only, no decoding).
      for (let i = 0; i < resume.skip; i++) await stream.next();
      this.consumed = stream.emitted;
    } else {
      stream = SampleStream.start(this.o.dir, this.manifest, this.order);
    }
    const B = this.o.batchSize;
    const snapshotEvery = this.o.snapshotEvery ?? 512;
    const window: Pending[] = [];
    const cap = B * this.o.prefetch;
    let ended = false;
    const pixels = this.spec.size * this.spec.size * 3;
    // Slots in flight (cap) plus the batch being filled (< B): see the header.
    const ringSlots = cap + B;
    const ring = new Float32Array(new SharedArrayBuffer(ringSlots * pixels * 4));
    const ctx = this.o.contextLength;
    let tokens: WorkerTokens | null = null;
    if (this.o.tokenize) this.tokenizeHere = this.o.tokenize;
    else if (this.o.workers === 0) {
      const tokenizer = await loadTokenizer(this.o.tokenizer!);
      this.tokenizeHere = (texts) => tokenizer.tokenize(texts, ctx);
    } else {
      this.tokenRing = new Int32Array(new SharedArrayBuffer(ringSlots * ctx * 4));
      tokens = { spec: this.o.tokenizer!, contextLength: ctx, ring: this.tokenRing };
    }
    const pool = (this.pool = new DecodePool(this.spec, this.o.workers, { ring, tokens }));
    let dispatched = 0;
    try {
      let batch: { item: StreamItem; slot: number }[] = [];
      for (;;) {
        while (!ended && window.length < cap) {
          if (stream.emitted % snapshotEvery === 0 && this.snaps.at(-1)?.emitted !== stream.emitted) this.snaps.push(stream.snapshot());
          const item = await stream.next();
          if (!item) ended = true;
          else {
            const slot = dispatched++ % ringSlots;
            // A batch tensor over this slot ends its lease first (at most one covers it).
            if (this.views.length && slot >= this.views[0]!.first && slot < this.views[0]!.end) this.views.shift()!.release();
            window.push({ item, slot, result: this.start(pool, item, slot) });
          }
        }
        const head = window.shift();
        if (!head) break;
        const r = await head.result;
        this.consumed++;
        if (r.ok) batch.push({ item: head.item, slot: head.slot });
        else this.recordSkip(head.item, r.reason as SkipReason, r.message);
        if (batch.length === B || (window.length === 0 && ended && batch.length > 0 && !this.o.dropLast)) {
          const out = this.assemble(batch, ring, pixels);
          batch = [];
          // Keep only snapshots the next state() can still need.
          const keep = this.snapshotFor(this.consumed);
          this.snaps = this.snaps.filter((s) => s.emitted >= keep.emitted);
          yield out;
        }
      }
    } finally {
      // Batches still held keep their values after the ring is gone.
      for (const v of this.views.splice(0)) v.release();
      this.stagingView?.();
      this.stagingView = null;
      await pool.close();
      this.pool = null;
    }
  }

  /**
   * Stop the decode workers. Breaking out of `for await` does this already;
   * call it when an iterator is abandoned without finishing (live workers
   * keep the process from exiting).
   */
  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
  }

  /** Validate the row, then hand its image to the pool with its crop seed and ring slot. */
  private start(pool: DecodePool, item: StreamItem, slot: number): Pending["result"] {
    const bad = (reason: SkipReason, message: string) => Promise.resolve({ ok: false as const, reason, message });
    if (item.key === null || item.key === "") return bad("missing-key", "row has no key");
    if (typeof item.caption !== "string" || item.caption.trim() === "") return bad("bad-caption", "caption is missing or empty");
    if (item.image === null) return bad("missing-image", "row has no image");
    // The crop depends on (seed, epoch, key) only; resampled repeats of a
    // shard within an epoch also mix in the draw position.
    const u = this.order.resampled
      ? hashUniform(this.order.seed, "crop", item.epoch, item.key, item.draw)
      : hashUniform(this.order.seed, "crop", item.epoch, item.key);
    // The worker reads the row's image from its shard file, or is given the row's own copy of the bytes (sampler.ts).
    return pool.decodeInto(item.image, Math.floor(u * 2 ** 32) >>> 0, slot, true, this.tokenRing ? item.caption : undefined);
  }

  private recordSkip(item: Pick<StreamItem, "shard" | "row" | "key">, reason: SkipReason, message: string): void {
    const st = this.statsNow;
    const file = this.manifest!.shards[item.shard]!.file;
    st.skipped++;
    st.byReason[reason] = (st.byReason[reason] ?? 0) + 1;
    const sh = (st.byShard[file] ??= { skipped: 0, byReason: {} });
    sh.skipped++;
    sh.byReason[reason] = (sh.byReason[reason] ?? 0) + 1;
    if (st.skippedSamples.length < MAX_SKIPPED_KEYS) {
      st.skippedSamples.push({ key: item.key ?? `${file}#${item.row}`, shard: file, row: item.row, reason, message });
    }
  }

  /**
   * The batch's images as a tensor: a view of the ring when its slots are
   * consecutive, else packed into the staging buffer with one native copy per
   * image. Either view's lease is kept until its bytes are rewritten.
   */
  private batchImages(batch: { slot: number }[], ring: Float32Array, pixels: number): tf.Tensor4D {
    const n = batch.length;
    const size = this.spec.size;
    const shape = [n, size, size, 3];
    const first = batch[0]!.slot;
    if (batch.every((b, i) => b.slot === first + i)) {
      const { tensor, release } = uploadView(ring.subarray(first * pixels, (first + n) * pixels), shape);
      this.views.push({ first, end: first + n, release });
      return tensor as tf.Tensor4D;
    }
    this.stagingView?.();
    if (!this.staging || this.staging.length < n * pixels) this.staging = new Float32Array(n * pixels);
    const out = this.staging.subarray(0, n * pixels);
    batch.forEach((b, i) => out.set(ring.subarray(b.slot * pixels, (b.slot + 1) * pixels), i * pixels));
    const { tensor, release } = uploadView(out, shape);
    this.stagingView = release;
    return tensor as tf.Tensor4D;
  }

  private assemble(batch: { item: StreamItem; slot: number }[], ring: Float32Array, pixels: number): LoaderBatch {
    const n = batch.length;
    const ctx = this.o.contextLength;
    const images = this.batchImages(batch, ring, pixels);
    let tokens: Int32Array;
    if (this.tokenRing) {
      const ring = this.tokenRing;
      tokens = new Int32Array(n * ctx);
      batch.forEach((b, i) => tokens.set(ring.subarray(b.slot * ctx, (b.slot + 1) * ctx), i * ctx));
    } else {
      tokens = this.tokenizeHere!(batch.map((b) => b.item.caption as string));
      if (!(tokens instanceof Int32Array) || tokens.length !== n * ctx) {
        throw new InputError(`tokenize returned ${tokens?.length} values for ${n} captions; expected an Int32Array of ${n} x contextLength ${ctx}`);
      }
    }
    const hasLabels = batch.some((b) => b.item.label !== null);
    this.statsNow.samples += n;
    const index = this.statsNow.batches++;
    return {
      images,
      tokens: tf.tensor2d(tokens, [n, ctx], "int32"),
      keys: batch.map((b) => b.item.key!),
      labels: hasLabels ? Int32Array.from(batch, (b) => b.item.label ?? -1) : undefined,
      epoch: batch[n - 1]!.item.epoch,
      index,
    };
  }
}
