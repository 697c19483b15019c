// Sample order: which rows a rank reads, in which order, per epoch. The order
// is fixed here, before any image is decoded, from the seed alone, so it is
// the same whatever the number of decode workers; its state is a handful of
// integers plus the shuffle buffer's row references, so it can be saved and
// restored exactly.
import { hashUniform, Rng } from "../util/hash.js";
import { InputError } from "../util/errors.js";
import path from "node:path";
import type { ShardSkip } from "../formats/shards.js";
import { readShardRows, rowImage, textAt, type ShardRequest, type ShardRows } from "../formats/shard-reader.js";
import type { FileSpan, Manifest } from "../formats/types.js";
import { ShardSelection, type RepeatCount, type SampleFilter, type Selection } from "../formats/selection.js";

export interface OrderOptions {
  seed: number;
  /** Shuffle shard order per epoch and pass rows through a shuffle buffer. */
  shuffle: boolean;
  /** Shuffle buffer size in samples (0 = none). */
  shuffleBuffer: number;
  /** Draw shards with replacement (webdataset "resampled"). */
  resampled: boolean;
  /** Shard draws per epoch in resampled mode (default: shards / worldSize, rounded up). */
  shardsPerEpoch?: number;
  rank: number;
  worldSize: number;
  /** "shard": each rank reads its own shards; "row": all read every shard and keep every worldSize-th row. */
  splitBy: "shard" | "row";
  /** Number of epochs before the stream ends (Infinity allowed). */
  epochs: number;
  selection?: Selection;
  sampler?: SampleFilter;
  repeats?: RepeatCount;
  /** Told when a shard is cut short (its readable rows are still used). */
  onShardSkip?: (info: ShardSkip) => void;
  /** Told for a tar's sample that is not a row (no image, bad metadata): webdataset pools only. */
  onSampleSkip?: (shard: number, key: string, reason: string) => void;
  /** Check each shard's sha256 against the manifest when it is opened (a mismatch: no rows, reported). */
  verifyHashes?: boolean;
}

/** One row on its way to the decoder. */
export interface StreamItem {
  /** Index into manifest.shards. */
  shard: number;
  row: number;
  key: string | null;
  caption: unknown;
  /** Where the decoder reads the image in its shard's file, else a private copy of its bytes (a `pipe:` tar's rows). */
  image: FileSpan | Uint8Array | null;
  label: number | null;
  epoch: number;
  /** Position of the shard in its epoch's shard sequence (distinguishes resampled repeats). */
  draw: number;
}

/** JSON-serializable position of the stream. */
export interface StreamState {
  epoch: number;
  /** Next position in the epoch's shard sequence. */
  shardPos: number;
  /** Next row to read in that shard. */
  rowPos: number;
  /** Rows accepted so far this epoch (for splitBy "row"). */
  rowCounter: number;
  /** Items emitted since the very start (all epochs). */
  emitted: number;
  /** Shuffle buffer RNG state. */
  rng: number;
  /** Shuffle buffer content as [shard sequence position, row]. */
  buffer: [number, number][];
  /** Copies of the row before rowPos still to emit (repeats hook); absent = 0. */
  pending?: number;
}

const u32 = (u: number) => Math.floor(u * 2 ** 32) >>> 0;

/** The shards (indices into manifest.shards) this rank reads in `epoch`, in order. */
export function shardSequence(manifest: Manifest, o: OrderOptions, epoch: number): number[] {
  const n = manifest.shards.length;
  if (o.resampled) {
    const draws = o.shardsPerEpoch ?? Math.ceil(n / o.worldSize);
    const seq: number[] = [];
    // Each rank draws independently, as webdataset's resampled shard list does.
    for (let k = 0; k < draws; k++) seq.push(Math.floor(hashUniform(o.seed, "resample", o.rank, epoch, k) * n));
    return seq;
  }
  const all = Array.from({ length: n }, (_, i) => i);
  // Every rank computes the same permutation, then takes its share of it.
  if (o.shuffle) new Rng(u32(hashUniform(o.seed, "shards", epoch))).shuffle(all);
  if (o.splitBy === "row" || o.worldSize === 1) return all;
  return all.filter((_, p) => p % o.worldSize === o.rank);
}

export function validateOrder(manifest: Manifest, o: OrderOptions): void {
  // A selection naming a shard the pool lacks or a row past a shard's end fails before any row is read.
  if (o.selection instanceof ShardSelection) o.selection.checkAgainst(manifest);
  if (!Number.isInteger(o.worldSize) || o.worldSize < 1) throw new InputError(`worldSize must be a positive integer, got ${o.worldSize}`);
  if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.worldSize) throw new InputError(`rank must be in [0, worldSize), got ${o.rank}`);
  if (!Number.isInteger(o.shuffleBuffer) || o.shuffleBuffer < 0) throw new InputError(`shuffleBuffer must be a non-negative integer, got ${o.shuffleBuffer}`);
  if (!(o.epochs > 0)) throw new InputError(`epochs must be positive, got ${o.epochs}`);
  if (manifest.shards.length === 0) throw new InputError("the shard manifest lists no shards");
  if (!o.resampled && o.splitBy === "shard" && manifest.shards.length < o.worldSize) {
    throw new InputError(
      `${manifest.shards.length} shards cannot be split over worldSize ${o.worldSize}; use splitBy: "row" or resampled`,
    );
  }
  if (o.shardsPerEpoch !== undefined && !(Number.isInteger(o.shardsPerEpoch) && o.shardsPerEpoch > 0)) {
    throw new InputError(`shardsPerEpoch must be a positive integer, got ${o.shardsPerEpoch}`);
  }
}

/** The per-epoch, per-rank stream of rows in their final (pre-decode) order. */
export class SampleStream {
  private st: StreamState;
  private sequence: number[] | null = null;
  private current: { pos: number; rows: ShardRows } | null = null;
  /** The next shard of the epoch's sequence, asked for while the current one is used. */
  private ahead: { epoch: number; pos: number; read: ReturnType<typeof readShardRows> } | null = null;
  private buffer: StreamItem[] = [];
  private rng: Rng;
  /** Row list of the shard being read (only that one is held). */
  private rowList: { file: string; rows: Uint32Array } | null = null;
  private readonly rowSelection: ShardSelection | null;
  /** Whether the current epoch has produced a row (assumed after a restore). */
  private epochHasRows = true;

  private constructor(
    private readonly dir: string,
    private readonly manifest: Manifest,
    private readonly o: OrderOptions,
    st: StreamState,
  ) {
    this.st = { ...st, buffer: [] };
    this.rng = new Rng(st.rng);
    const sel = o.selection;
    this.rowSelection = !sel || isKeySet(sel) ? null : sel instanceof ShardSelection ? sel : ShardSelection.fromRecord(sel);
  }

  /** The state of a stream that has not emitted anything yet. */
  static initialState(o: OrderOptions): StreamState {
    return { epoch: 0, shardPos: 0, rowPos: 0, rowCounter: 0, emitted: 0, rng: epochRng(o, 0).state, buffer: [] };
  }

  static start(dir: string, manifest: Manifest, o: OrderOptions): SampleStream {
    validateOrder(manifest, o);
    const s = new SampleStream(dir, manifest, o, SampleStream.initialState(o));
    s.epochHasRows = false;
    return s;
  }

  /** Rebuild a stream from a saved state, re-reading the buffered rows from their shards. */
  static async restore(dir: string, manifest: Manifest, o: OrderOptions, st: StreamState): Promise<SampleStream> {
    validateOrder(manifest, o);
    const s = new SampleStream(dir, manifest, o, st);
    const seq = s.seq();
    const byPos = new Map<number, number[]>();
    for (const [pos, row] of st.buffer) byPos.set(pos, [...(byPos.get(pos) ?? []), row]);
    const loaded = new Map<string, StreamItem>();
    for (const [pos, rows] of byPos) {
      const shard = seq[pos];
      if (shard === undefined) throw new InputError(`loader state refers to shard position ${pos} beyond epoch ${st.epoch}'s sequence`);
      const data = await s.use(shard, readShardRows(s.request(shard)), false);
      for (const row of rows) {
        if (row >= data.numRows) throw new InputError(`loader state refers to row ${row} of ${s.manifest.shards[shard]!.file}, which has ${data.numRows} readable rows`);
        loaded.set(`${pos}:${row}`, s.item(data, shard, pos, row));
      }
    }
    s.buffer = st.buffer.map(([pos, row]) => loaded.get(`${pos}:${row}`)!);
    return s;
  }

  /** Emitted items so far (all epochs). */
  get emitted(): number {
    return this.st.emitted;
  }

  snapshot(): StreamState {
    return {
      ...this.st,
      rng: this.rng.state,
      buffer: this.buffer.map((b) => [b.draw, b.row]),
    };
  }

  /** The next row in order, or null when all epochs are done. */
  async next(): Promise<StreamItem | null> {
    const bufferSize = this.o.shuffle ? this.o.shuffleBuffer : 0;
    for (;;) {
      if (this.st.epoch >= this.o.epochs) return null;
      const candidate = await this.nextCandidate();
      if (candidate) {
        this.epochHasRows = true;
        if (bufferSize === 0) return this.emit(candidate);
        if (this.buffer.length < bufferSize) {
          this.buffer.push(candidate);
          continue;
        }
        const j = this.rng.int(this.buffer.length);
        const out = this.buffer[j]!;
        this.buffer[j] = candidate;
        return this.emit(out);
      }
      if (this.buffer.length > 0) {
        const j = this.rng.int(this.buffer.length);
        const out = this.buffer[j]!;
        this.buffer[j] = this.buffer[this.buffer.length - 1]!;
        this.buffer.pop();
        return this.emit(out);
      }
      // Epoch done: the buffer is drained, so every epoch holds each row once.
      if (!this.epochHasRows && this.o.epochs === Infinity) {
        // An endless stream with nothing to yield would spin forever.
        throw new InputError(`epoch ${this.st.epoch} has no rows for rank ${this.o.rank} after selection, sampler and rank split`);
      }
      this.epochHasRows = false;
      const epoch = this.st.epoch + 1;
      this.st = { ...this.st, epoch, shardPos: 0, rowPos: 0, rowCounter: 0 };
      this.sequence = null;
      this.current = null;
      this.rng = epochRng(this.o, epoch);
    }
  }

  private emit(item: StreamItem): StreamItem {
    this.st.emitted++;
    return item;
  }


  private seq(): number[] {
    if (!this.sequence) this.sequence = shardSequence(this.manifest, this.o, this.st.epoch);
    return this.sequence;
  }

  /** Next row that passes selection, sampler and the rank split; null at the end of the epoch's shards. */
  private async nextCandidate(): Promise<StreamItem | null> {
    const seq = this.seq();
    const { selection, sampler } = this.o;
    while (this.st.shardPos < seq.length) {
      const pos = this.st.shardPos;
      const shard = seq[pos]!;
      const file = this.manifest.shards[shard]!.file;
      if (!this.current || this.current.pos !== pos) {
        const epoch = this.st.epoch;
        const ahead = this.ahead?.epoch === epoch && this.ahead.pos === pos ? this.ahead.read : null;
        const read = ahead ?? readShardRows(this.request(shard));
        // Reading, hashing and parsing the next shard (the next epoch's first
        // at the end of one) overlaps this one's rows: waiting for it at the
        // switch would starve the decode workers.
        const next = pos + 1 < seq.length ? { epoch, pos: pos + 1 } : epoch + 1 < this.o.epochs ? { epoch: epoch + 1, pos: 0 } : null;
        const nextShard = next ? (next.epoch === epoch ? seq : shardSequence(this.manifest, this.o, next.epoch))[next.pos] : undefined;
        this.ahead = next && nextShard !== undefined ? { ...next, read: readShardRows(this.request(nextShard), true) } : null;
        this.current = { pos, rows: await this.use(shard, read) };
      }
      const data = this.current.rows;
      const rowSet = this.rowSelection ? this.rowsOf(file) : null;
      if (this.st.pending && this.st.rowPos > 0) {
        this.st.pending--;
        const row = this.st.rowPos - 1;
        return this.item(data, shard, pos, row);
      }
      while (this.st.rowPos < data.numRows) {
        const row = this.st.rowPos++;
        if (rowSet && !hasRow(rowSet, row)) continue;
        const key = textAt(data.keys, row);
        // A row without a key cannot be selected or sampled by key; it is
        // passed on so the loader counts it as a bad row.
        if (key !== null) {
          if (selection && isKeySet(selection) && !selection.has(key)) continue;
          if (sampler && !sampler(key, row, this.st.epoch, file)) continue;
        }
        if (this.o.splitBy === "row" && this.o.worldSize > 1) {
          const c = this.st.rowCounter++;
          if (c % this.o.worldSize !== this.o.rank) continue;
        }
        if (this.o.repeats && key !== null) {
          const n = this.o.repeats(key, row, this.st.epoch, file);
          if (!(n >= 1)) continue;
          this.st.pending = Math.floor(n) - 1;
        }
        return this.item(data, shard, pos, row, key);
      }
      this.st.shardPos++;
      this.st.rowPos = 0;
      this.current = null;
    }
    return null;
  }

  /** What the reader worker is asked for to open a shard. */
  private request(shard: number): ShardRequest {
    const entry = this.manifest.shards[shard]!;
    // A tar read in place (its row count may be unknown until then).
    if (this.manifest.format === "webdataset") return { kind: "tar", name: entry.file, source: entry.source!, expectedRows: entry.rows };
    const sha256 = this.o.verifyHashes ? entry.sha256 : undefined;
    return { kind: "arrow", file: path.join(this.dir, entry.file), expectedRows: entry.rows, ...(sha256 ? { sha256 } : {}) };
  }

  /** A shard's rows once read; `reading` is false when only buffered rows are re-read (a restore), so skips are not told twice. */
  private async use(shard: number, read: ReturnType<typeof readShardRows>, reading = true): Promise<ShardRows> {
    const entry = this.manifest.shards[shard]!;
    const tell = reading ? this.o.onSampleSkip : undefined;
    const opened = await read.use({ onSkip: this.o.onShardSkip, onSampleSkip: tell && ((key, reason) => tell(shard, key, reason)) });
    const last = this.manifest.format === "webdataset" ? (this.rowSelection?.lastRow(entry.file) ?? -1) : -1;
    if (last >= opened.numRows && !opened.truncated) throw new InputError(`selection ${this.rowSelection!.source}: shard ${entry.file}: row ${last} is past the tar's end (${opened.numRows} samples)`);
    return opened;
  }

  private item(data: ShardRows, shard: number, draw: number, row: number, key = textAt(data.keys, row)): StreamItem {
    const image = rowImage(data, row);
    const label = data.labels[row]!;
    return {
      shard,
      row,
      key,
      caption: textAt(data.captions, row),
      // A `pipe:` tar's image is copied out of its block, so a buffered row does not
      // keep the whole block in memory and the decoder can take it.
      image: image instanceof Uint8Array ? Uint8Array.prototype.slice.call(image) : image,
      label: Number.isNaN(label) ? null : label,
      epoch: this.st.epoch,
      draw,
    };
  }

  private rowsOf(file: string): Uint32Array {
    if (this.rowList?.file !== file) this.rowList = { file, rows: this.rowSelection!.rows(file) };
    return this.rowList.rows;
  }
}

/** Shuffle-buffer RNG of one rank's epoch. */
function epochRng(o: OrderOptions, epoch: number): Rng {
  return new Rng(u32(hashUniform(o.seed, "buffer", o.rank, epoch)));
}

/** Membership in a sorted row list (binary search). */
function hasRow(rows: Uint32Array, row: number): boolean {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]! < row) lo = mid + 1;
    else hi = mid;
  }
  return lo < rows.length && rows[lo] === row;
}

function isKeySet(s: Selection): s is ReadonlySet<string> {
  return s instanceof Set;
}
