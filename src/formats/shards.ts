// Arrow IPC shards: writing (fixed rows per shard, atomic, manifest last),
// reading (random access and streaming, tolerant of a shard cut short) and
// verification of the manifest's hashes.
//
// Layout of a shard file: the Arrow IPC *file* format. apache-arrow's JS file
// writer leaves the schema only in the footer, so a file cut short could not
// be read at all; our writer also puts the schema message right after the
// magic (as the C++ writer does), so the record batches before the cut can be
// read as an IPC stream starting at byte 8.
import { createHash } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import * as A from "apache-arrow";
import { fsyncDir, writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { sha256File } from "../util/sha256.js";
import { MAX_JSON_BYTES, readFileBounded, readTextBounded } from "../util/bounded-read.js";
import { SHARD_COLUMNS, type FileSpan, type Manifest, type Sample } from "./types.js";

export const MANIFEST_FILE = "manifest.json";
/**
 * Arrow Binary/Utf8 columns have int32 offsets: one record batch column holds
 * at most 2^31-1 bytes, and apache-arrow's JS builder wraps past it silently
 * (images stored as 0 bytes). Every cap below stays under this.
 */
export const ARROW_BINARY_LIMIT = 2 ** 31 - 1;
/** Largest image a shard accepts (bigger ones are skipped and counted as "image too large"). */
export const DEFAULT_MAX_IMAGE_BYTES = 256 * 2 ** 20;
/** Bytes of images+captions per record batch before a new batch starts. */
export const DEFAULT_MAX_BATCH_BYTES = 256 * 2 ** 20;
/** Bytes of images+captions buffered per shard before it is written (bounds memory and shard size). */
export const DEFAULT_MAX_SHARD_BYTES = 2 ** 30;
/** Most skipped keys listed in a manifest; counts stay exact beyond it. */
export const MAX_SKIPPED_LISTED = 10_000;

/** Per-shard entry of the manifest, extended with what was skipped while it filled. */
export type ShardEntry = Manifest["shards"][number] & {
  columns?: string[];
  /** Sum of the image lengths written (checked by verifyShards). */
  imageBytes?: number;
  skipped?: { count: number; byReason: Record<string, number> };
};

/** A skipped sample: its key and why. */
export interface SkippedItem {
  key: string;
  reason: string;
  /** Shard that was being filled when it was skipped. */
  shard?: string;
}

/** The manifest as this module writes it (a superset of `Manifest`). */
export type ShardManifest = Manifest & {
  shards: ShardEntry[];
  skipped: Manifest["skipped"] & { items?: SkippedItem[] };
  /** Rows per shard requested at write time (the last shard may hold fewer). */
  rowsPerShard?: number;
  /** Type of every extra metadata column seen, by name. */
  extraColumns?: Record<string, "utf8" | "float64">;
  /** Free-form description of the source (format, input paths). */
  source?: Record<string, unknown>;
};

// ---------------------------------------------------------------- writing

/** Subclass that also writes the schema message after the magic (see header). */
class SchemaFirstFileWriter extends A.RecordBatchFileWriter {
  protected override _writeSchema(schema: A.Schema): this {
    super._writeSchema(schema);
    return this._writeMessage(A.Message.from(schema));
  }
}

export interface ShardWriterOptions {
  /** Rows in every shard except possibly the last. */
  rowsPerShard: number;
  /** Rows per Arrow record batch inside a shard: the unit a cut-short shard loses. */
  batchRows?: number;
  /** File name prefix: `${prefix}-000000.arrow`. */
  prefix?: string;
  /** Images longer than this are skipped ("image too large"). Default DEFAULT_MAX_IMAGE_BYTES. */
  maxImageBytes?: number;
  /** Image+caption bytes per record batch (a new batch starts past it). Default DEFAULT_MAX_BATCH_BYTES. */
  maxBatchBytes?: number;
  /** Image+caption bytes per shard (the shard is written early past it). Default DEFAULT_MAX_SHARD_BYTES. */
  maxShardBytes?: number;
}

/** Bytes a sample adds to a record batch's variable-length columns. */
function sampleBytes(s: Sample): number {
  return s.image.byteLength + Buffer.byteLength(s.caption) + Buffer.byteLength(s.key);
}

/** Name of the staging folder a run writes into before the swap (see ShardWriter). */
export const STAGING_DIR = ".staging";

type ColumnType = "utf8" | "float64";

/**
 * Collects samples and writes a shard each time `rowsPerShard` rows are
 * buffered. Call `finish()` once to write the last shard and the manifest.
 */
export class ShardWriter {
  private rows: Sample[] = [];
  private readonly shards: ShardEntry[] = [];
  private readonly extraTypes = new Map<string, ColumnType>();
  private readonly skippedItems: SkippedItem[] = [];
  private skippedCount = 0;
  private readonly skippedByReason: Record<string, number> = {};
  private shardSkipped = { count: 0, byReason: {} as Record<string, number> };
  private readonly batchRows: number;
  private readonly prefix: string;
  private readonly maxImageBytes: number;
  private readonly maxBatchBytes: number;
  private readonly maxShardBytes: number;
  private bufferedBytes = 0;
  private finished = false;
  /** Where shards are written until finish() swaps them in. */
  private readonly stage: string;

  constructor(
    readonly dir: string,
    readonly opts: ShardWriterOptions,
  ) {
    if (!Number.isInteger(opts.rowsPerShard) || opts.rowsPerShard < 1) {
      throw new InputError(`rows-per-shard must be a positive integer, got ${opts.rowsPerShard}`);
    }
    const batchRows = opts.batchRows ?? 64;
    if (!Number.isInteger(batchRows) || batchRows < 1) throw new InputError(`batch-rows must be a positive integer, got ${opts.batchRows}`);
    this.batchRows = Math.min(batchRows, opts.rowsPerShard);
    this.prefix = opts.prefix ?? "shard";
    const cap = (name: string, v: number | undefined, dflt: number, max: number) => {
      const x = v ?? dflt;
      if (!Number.isInteger(x) || x < 1 || x > max) throw new InputError(`${name} must be an integer in [1, ${max}], got ${v}`);
      return x;
    };
    // A batch must hold the largest image plus its caption under the int32 offset limit.
    this.maxBatchBytes = cap("max-batch-bytes", opts.maxBatchBytes, DEFAULT_MAX_BATCH_BYTES, 2 ** 30);
    this.maxImageBytes = cap("max-image-bytes", opts.maxImageBytes, DEFAULT_MAX_IMAGE_BYTES, 2 ** 30);
    this.maxShardBytes = cap("max-shard-bytes", opts.maxShardBytes, DEFAULT_MAX_SHARD_BYTES, 2 ** 31);
    this.stage = path.join(dir, STAGING_DIR);
  }

  /**
   * Prepare the staging folder. The previous manifest and shards stay
   * untouched and readable until finish() succeeds; a staging folder left by a
   * killed run is cleared here.
   */
  async start(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await fs.rm(this.stage, { recursive: true, force: true });
    await fs.mkdir(this.stage, { recursive: true });
    // A manifest temp file of a run killed mid-write (atomic.ts: .<name>.tmp-<pid>-<time>).
    for (const name of await fs.readdir(this.dir)) {
      const m = /^\.manifest\.json\.tmp-(\d+)-/.exec(name);
      if (m && Number(m[1]) !== process.pid) await fs.rm(path.join(this.dir, name), { force: true });
    }
  }

  get rowsWritten(): number {
    return this.shards.reduce((s, e) => s + e.rows, 0) + this.rows.length;
  }

  get skipped(): number {
    return this.skippedCount;
  }

  async add(sample: Sample): Promise<void> {
    if (sample.image.byteLength > this.maxImageBytes) {
      this.skip(sample.key, `image too large: ${sample.image.byteLength} bytes > max ${this.maxImageBytes}`);
      return;
    }
    const bytes = sampleBytes(sample);
    if (this.rows.length > 0 && this.bufferedBytes + bytes > this.maxShardBytes) await this.flush();
    this.rows.push(sample);
    this.bufferedBytes += bytes;
    if (this.rows.length >= this.opts.rowsPerShard) await this.flush();
  }

  /** Record a skipped sample (counted for the current shard and the run). */
  skip(key: string, reason: string): void {
    const kind = reasonKind(reason);
    this.skippedCount++;
    this.skippedByReason[kind] = (this.skippedByReason[kind] ?? 0) + 1;
    this.shardSkipped.count++;
    this.shardSkipped.byReason[kind] = (this.shardSkipped.byReason[kind] ?? 0) + 1;
    if (this.skippedItems.length < MAX_SKIPPED_LISTED) {
      this.skippedItems.push({ key, reason, shard: this.shardName(this.shards.length) });
    }
  }

  private shardName(i: number): string {
    return `${this.prefix}-${String(i).padStart(6, "0")}.arrow`;
  }

  private async flush(): Promise<void> {
    if (this.rows.length === 0) return;
    const file = this.shardName(this.shards.length);
    const { bytes, columns } = encodeShard(this.rows, this.batchRows, this.extraTypes, this.maxBatchBytes);
    await writeFileAtomic(path.join(this.stage, file), bytes);
    const sha256 = sha256Bytes(bytes);
    const imageBytes = this.rows.reduce((a, r) => a + r.image.byteLength, 0);
    this.shards.push({ file, rows: this.rows.length, sha256, imageBytes, columns, skipped: this.shardSkipped });
    this.rows = [];
    this.bufferedBytes = 0;
    this.shardSkipped = { count: 0, byReason: {} };
  }

  /** Write the last shard, then the manifest; remove stale shards of an earlier run. */
  async finish(meta: { classes?: string[]; source?: Record<string, unknown> } = {}): Promise<ShardManifest> {
    if (this.finished) throw new Error("ShardWriter.finish called twice");
    this.finished = true;
    await this.flush();
    // Skips after the last full shard belong to no shard file; keep them in the run totals.
    if (this.shardSkipped.count > 0 && this.shards.length > 0) {
      const last = this.shards[this.shards.length - 1].skipped!;
      last.count += this.shardSkipped.count;
      for (const [r, n] of Object.entries(this.shardSkipped.byReason)) last.byReason[r] = (last.byReason[r] ?? 0) + n;
      const lastName = this.shards[this.shards.length - 1].file;
      for (const it of this.skippedItems) if (it.shard === this.shardName(this.shards.length)) it.shard = lastName;
    }
    // With no shard at all, skipped items belong to none.
    if (this.shards.length === 0) for (const it of this.skippedItems) delete it.shard;
    const columnSets = this.shards.map((s) => s.columns ?? []);
    const common = columnSets.length === 0 ? ["key", "caption", "image", "width", "height"] : columnSets.reduce((a, b) => a.filter((c) => b.includes(c)));
    const manifest: ShardManifest = {
      format: "clipts-shards",
      version: 1,
      rows: this.shards.reduce((s, e) => s + e.rows, 0),
      columns: common,
      shards: this.shards,
      skipped: {
        count: this.skippedCount,
        byReason: this.skippedByReason,
        keys: this.skippedItems.map((s) => s.key),
        items: this.skippedItems,
      },
      rowsPerShard: this.opts.rowsPerShard,
      extraColumns: Object.fromEntries([...this.extraTypes].sort(([a], [b]) => (a < b ? -1 : 1))),
      ...(meta.classes ? { classes: meta.classes } : {}),
      ...(meta.source ? { source: meta.source } : {}),
    };
    await this.swap(manifest);
    return manifest;
  }

  /** Drop the staged shards of a failed run; the previous dataset stays as it was. */
  async abort(): Promise<void> {
    this.finished = true;
    await fs.rm(this.stage, { recursive: true, force: true });
  }

  /**
   * Swap the staged run in. Order: remove the old manifest (readers then see
   * no dataset rather than a mixed one), move each new shard over its old
   * namesake, write the new manifest, remove shards the new run did not write.
   * A kill before the manifest is removed leaves the old dataset whole; a kill
   * after it leaves no manifest (a clear error, never wrong rows) and the
   * next run clears the staging folder.
   */
  private async swap(manifest: ShardManifest): Promise<void> {
    await fs.rm(path.join(this.dir, MANIFEST_FILE), { force: true });
    await fsyncDir(this.dir);
    for (const s of this.shards) await fs.rename(path.join(this.stage, s.file), path.join(this.dir, s.file));
    await fsyncDir(this.dir);
    await writeJsonAtomic(path.join(this.dir, MANIFEST_FILE), manifest);
    await removeStaleShards(this.dir, this.prefix, new Set(this.shards.map((s) => s.file)));
    await fs.rm(this.stage, { recursive: true, force: true });
  }
}

/** sha256 of a byte array, fed in chunks (one update call over 2 GiB throws), on the calling thread. */
export function sha256Bytes(bytes: Uint8Array): string {
  const h = createHash("sha256");
  const CHUNK = 64 * 2 ** 20;
  for (let off = 0; off < bytes.byteLength; off += CHUNK) h.update(bytes.subarray(off, Math.min(bytes.byteLength, off + CHUNK)));
  return h.digest("hex");
}

/**
 * The fixed part of a skip reason, for `byReason` counts: reasons read
 * "kind: detail" or "kind (detail)", and details (paths, sizes) vary.
 */
export function reasonKind(reason: string): string {
  return reason.split(/: | \(/)[0].trim();
}

async function removeStaleShards(dir: string, prefix: string, keep: Set<string>): Promise<void> {
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-\\d{6}\\.arrow$`);
  for (const name of await fs.readdir(dir)) {
    if (re.test(name) && !keep.has(name)) await fs.rm(path.join(dir, name), { force: true });
  }
}

/**
 * Encode rows as one Arrow IPC file. Extra metadata columns are float64 when
 * every value seen for that name (in this run so far) is a number, else utf8.
 */
export function encodeShard(
  rows: Sample[],
  batchRows: number,
  extraTypes: Map<string, ColumnType> = new Map(),
  maxBatchBytes = DEFAULT_MAX_BATCH_BYTES,
): { bytes: Uint8Array; columns: string[] } {
  const extraNames: string[] = [];
  for (const r of rows) {
    for (const [k, v] of Object.entries(r.extra ?? {})) {
      if (!extraNames.includes(k)) extraNames.push(k);
      if (v === null || v === undefined) continue;
      const t: ColumnType = typeof v === "number" ? "float64" : "utf8";
      if (extraTypes.get(k) !== "utf8") extraTypes.set(k, t === "utf8" ? "utf8" : (extraTypes.get(k) ?? "float64"));
    }
  }
  extraNames.sort();
  const hasLabel = rows.some((r) => r.label !== undefined);
  const hasLang = rows.some((r) => r.lang !== undefined);
  const fields: A.Field[] = [
    new A.Field("key", new A.Utf8(), false),
    new A.Field("caption", new A.Utf8(), false),
    new A.Field("image", new A.Binary(), false),
    new A.Field("width", new A.Int32(), false),
    new A.Field("height", new A.Int32(), false),
  ];
  if (hasLabel) fields.push(new A.Field("label", new A.Int32(), true));
  if (hasLang) fields.push(new A.Field("lang", new A.Utf8(), true));
  for (const name of extraNames) {
    const t = extraTypes.get(name) ?? "utf8";
    fields.push(new A.Field(name, t === "float64" ? new A.Float64() : new A.Utf8(), true));
  }
  const schema = new A.Schema(fields);
  const batches: A.RecordBatch[] = [];
  // A record batch ends at batchRows rows or before its variable-length bytes pass maxBatchBytes.
  const bounds: number[] = [0];
  let inBatch = 0;
  let batchBytes = 0;
  for (let i = 0; i < rows.length; i++) {
    const b = sampleBytes(rows[i]);
    if (inBatch > 0 && (inBatch >= batchRows || batchBytes + b > maxBatchBytes)) {
      bounds.push(i);
      inBatch = 0;
      batchBytes = 0;
    }
    inBatch++;
    batchBytes += b;
  }
  bounds.push(rows.length);
  for (let bi = 0; bi + 1 < bounds.length; bi++) {
    const part = rows.slice(bounds[bi], bounds[bi + 1]);
    if (part.length === 0) continue;
    const imageBytes = part.reduce((a, r) => a + r.image.byteLength, 0);
    if (imageBytes > ARROW_BINARY_LIMIT) throw new Error(`encodeShard: ${imageBytes} image bytes in one record batch exceed the Arrow Binary limit`);
    const cols: A.Vector[] = [
      A.vectorFromArray(part.map((r) => r.key), new A.Utf8()),
      A.vectorFromArray(part.map((r) => r.caption), new A.Utf8()),
      A.vectorFromArray(part.map((r) => r.image), new A.Binary()),
      A.vectorFromArray(part.map((r) => r.width), new A.Int32()),
      A.vectorFromArray(part.map((r) => r.height), new A.Int32()),
    ];
    if (hasLabel) cols.push(A.vectorFromArray(part.map((r) => r.label ?? null), new A.Int32()));
    if (hasLang) cols.push(A.vectorFromArray(part.map((r) => r.lang ?? null), new A.Utf8()));
    for (const name of extraNames) {
      const numeric = extraTypes.get(name) === "float64";
      const values = part.map((r) => {
        const v = r.extra?.[name];
        if (v === null || v === undefined) return null;
        return numeric ? Number(v) : String(v);
      });
      cols.push(A.vectorFromArray(values, numeric ? new A.Float64() : new A.Utf8()));
    }
    const data = A.makeData({
      type: new A.Struct(fields),
      length: part.length,
      nullCount: 0,
      children: cols.map((c) => {
        // vectorFromArray builds one chunk; anything else would lose rows here.
        if (c.data.length !== 1) throw new Error(`encodeShard: expected one Arrow chunk per column, got ${c.data.length}`);
        return c.data[0];
      }),
    });
    // Guard against silent offset wrap: the column must end where the bytes do.
    const img = cols[2].data[0];
    const held = Number(img.valueOffsets[img.offset + img.length]) - Number(img.valueOffsets[img.offset]);
    if (held !== imageBytes) throw new Error(`encodeShard: image column holds ${held} bytes, expected ${imageBytes}`);
    batches.push(new A.RecordBatch(schema, data));
  }
  const writer = new SchemaFirstFileWriter();
  for (const b of batches) writer.write(b);
  writer.finish();
  return { bytes: writer.toUint8Array(true), columns: fields.map((f) => f.name) };
}

// ---------------------------------------------------------------- reading

const CORE = new Set<string>(SHARD_COLUMNS);

/** Turn row `i` of a record batch into a Sample (image is a view into the batch). */
function rowToSample(batch: A.RecordBatch, i: number): Sample {
  const get = (name: string) => batch.getChild(name)?.get(i) ?? null;
  const s: Sample = {
    key: get("key") as string,
    caption: get("caption") as string,
    image: get("image") as Uint8Array,
    width: get("width") as number,
    height: get("height") as number,
  };
  const label = get("label");
  if (label !== null) s.label = label as number;
  const lang = get("lang");
  if (lang !== null) s.lang = lang as string;
  for (const f of batch.schema.fields) {
    if (CORE.has(f.name)) continue;
    (s.extra ??= {})[f.name] = batch.getChild(f.name)!.get(i) as string | number | null;
  }
  return s;
}

/** A shard opened for random access. */
export interface OpenedShard {
  file: string;
  /** Readable rows (fewer than expected when the shard was cut short). */
  numRows: number;
  /** True when the file could not be read to its end. */
  truncated: boolean;
  /** Why reading stopped early, when truncated. */
  error?: string;
  /** Rows lost to truncation, when the expected count is known. */
  skippedRows?: number;
  columns: string[];
  get(row: number): Sample;
  /**
   * Where row `row`'s image lies in the shard's file, when its bytes can be
   * read there (null: a null image, or bytes that exist only in memory).
   */
  imageSpan?(row: number): FileSpan | null;
}

export interface ReadShardOptions {
  /** Rows the manifest promises; used to count rows lost to truncation. */
  expectedRows?: number;
  /** Told once when a shard cannot be read to its end. */
  onSkip?: (info: ShardSkip) => void;
  /** The manifest's sha256: openShard checks it and reads no row of a shard that differs. */
  sha256?: string;
}

/** Rows of a shard that could not be read. */
export interface ShardSkip {
  shard: string;
  /** Rows lost, or null when the expected count is unknown. */
  rows: number | null;
  /** Rows read before the cut. */
  readRows: number;
  reason: string;
}

const MAGIC_LEN = 8; // "ARROW1" + 2 bytes padding

/**
 * Open a shard for random access (`get(row)`). The whole file is read into
 * memory. A shard cut short yields its complete record batches before the cut;
 * `truncated`, `error` and `skippedRows` say what was lost.
 */
export async function openShard(file: string, opts: ReadShardOptions = {}): Promise<OpenedShard> {
  // Regular files only, and under Node's 2 GiB readFile limit (new shards stay under 1 GiB + one image).
  // Hashing blocks this thread: the loader opens shards on its reader worker.
  const bytes = await readFileBounded(file, ARROW_BINARY_LIMIT, "shard");
  const digest = opts.sha256 !== undefined ? sha256Bytes(bytes) : undefined;
  let batches: A.RecordBatch[] = [];
  let error: string | undefined;
  if (digest !== undefined && digest !== opts.sha256) {
    // Changed bytes (a flipped caption, a half-copied file): none of its rows can be trusted.
    error = `sha256 ${digest} != manifest ${opts.sha256}`;
  } else try {
    batches = A.tableFromIPC(bytes).batches;
  } catch {
    // No readable footer: read the stream part up to the cut.
    try {
      for (const b of A.RecordBatchStreamReader.from(bytes.subarray(MAGIC_LEN))) batches.push(b);
      error = "missing footer";
    } catch (err) {
      error = (err as Error).message;
    }
  }
  const starts: number[] = [];
  let numRows = 0;
  for (const b of batches) {
    starts.push(numRows);
    numRows += b.numRows;
  }
  const truncated = error !== undefined || (opts.expectedRows !== undefined && numRows < opts.expectedRows);
  const skippedRows = opts.expectedRows !== undefined ? Math.max(0, opts.expectedRows - numRows) : undefined;
  const name = path.basename(file);
  const absolute = path.resolve(file);
  if (truncated) {
    const kind = digest !== undefined && digest !== opts.sha256 ? "shard hash mismatch" : "shard cut short";
    opts.onSkip?.({ shard: name, rows: skippedRows ?? null, readRows: numRows, reason: `${kind}: ${error ?? "fewer rows than expected"}` });
  }
  return {
    file,
    numRows,
    truncated,
    ...(error !== undefined ? { error } : {}),
    ...(skippedRows !== undefined ? { skippedRows } : {}),
    columns: batches[0]?.schema.fields.map((f) => f.name) ?? [],
    get(row: number): Sample {
      const b = batchOf(row);
      return rowToSample(batches[b], row - starts[b]);
    },
    imageSpan(row: number): FileSpan | null {
      const b = batchOf(row);
      const column = batches[b].getChild("image");
      const i = row - starts[b];
      const data = column?.data[0];
      // The column's bytes are a view of the file's bytes (an uncompressed IPC
      // file), so their position in the file is their position in `bytes`.
      // Binary and LargeBinary (pyarrow's large_binary: BigInt offsets) have
      // offsets; other layouts, and offsets past the bytes, give no span.
      if (!column || column.data.length !== 1 || !data || !column.isValid(i) || !data.valueOffsets || !data.values) return null;
      if (data.values.buffer !== bytes.buffer) return null;
      const from = Number(data.valueOffsets[data.offset + i]);
      const to = Number(data.valueOffsets[data.offset + i + 1]);
      if (!(from >= 0 && from <= to && to <= data.values.byteLength)) return null;
      return { file: absolute, offset: data.values.byteOffset - bytes.byteOffset + from, length: to - from };
    },
  };

  /** The record batch holding `row` (binary search). */
  function batchOf(row: number): number {
    if (!Number.isInteger(row) || row < 0 || row >= numRows) throw new RangeError(`${name}: row ${row} out of range [0, ${numRows})`);
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/**
 * Stream the rows of a shard without holding the whole file: one record batch
 * at a time. A shard cut short yields the rows before the cut and reports the
 * rest through `onSkip` (never throws for that).
 */
export async function* readShard(file: string, opts: ReadShardOptions = {}): AsyncGenerator<{ row: number; sample: Sample }> {
  try {
    await fs.access(file);
  } catch (err) {
    throw new InputError(`${file}: cannot read shard (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const stream = createReadStream(file, { start: MAGIC_LEN, highWaterMark: 1 << 20 });
  let row = 0;
  let error: string | undefined;
  try {
    const reader = await A.RecordBatchReader.from(stream);
    for await (const batch of reader) {
      for (let i = 0; i < batch.numRows; i++) yield { row: row++, sample: rowToSample(batch, i) };
    }
  } catch (err) {
    error = (err as Error).message;
  } finally {
    stream.destroy();
  }
  if (error !== undefined && row === 0) {
    // Files from writers that keep the schema only in the footer (plain
    // apache-arrow JS) cannot be streamed: read them through the footer.
    const opened = await openShard(file, { expectedRows: opts.expectedRows, onSkip: opts.onSkip });
    for (let i = 0; i < opened.numRows; i++) yield { row: i, sample: opened.get(i) };
    return;
  }
  if (error !== undefined || (opts.expectedRows !== undefined && row < opts.expectedRows)) {
    opts.onSkip?.({
      shard: path.basename(file),
      rows: opts.expectedRows !== undefined ? Math.max(0, opts.expectedRows - row) : null,
      readRows: row,
      reason: `shard cut short: ${error ?? "fewer rows than expected"}`,
    });
  }
}

// ---------------------------------------------------------------- manifest

/** Read and check `DIR/manifest.json`. Throws InputError naming the file. */
export async function listShards(dir: string): Promise<ShardManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readTextBounded(file, MAX_JSON_BYTES, "shard manifest");
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${file}: cannot read shard manifest (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let m: ShardManifest;
  try {
    m = JSON.parse(text) as ShardManifest;
  } catch (err) {
    throw new InputError(`${file}: invalid JSON (${(err as Error).message})`);
  }
  if (m?.format !== "clipts-shards" || m.version !== 1 || !Array.isArray(m.shards)) {
    throw new InputError(`${file}: not a clipts shard manifest (format/version/shards)`);
  }
  for (const [i, s] of m.shards.entries()) {
    if (typeof s?.file !== "string" || !Number.isInteger(s.rows) || typeof s.sha256 !== "string" || s.file.includes("/") || s.file.includes("\\")) {
      throw new InputError(`${file}: shards[${i}] needs file (a name in the folder), rows and sha256`);
    }
  }
  return m;
}

export interface VerifyResult {
  ok: boolean;
  shards: number;
  rows: number;
  problems: { file: string; problem: string }[];
}

/**
 * Recompute every shard's sha256 and row count and compare with the manifest.
 * Problems are listed, not thrown (a missing manifest still throws).
 */
export async function verifyShards(dir: string): Promise<VerifyResult> {
  const m = await listShards(dir);
  const problems: VerifyResult["problems"] = [];
  let rows = 0;
  for (const s of m.shards) {
    const file = path.join(dir, s.file);
    let digest: string;
    try {
      digest = await sha256File(file);
    } catch (err) {
      problems.push({ file: s.file, problem: `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      continue;
    }
    if (digest !== s.sha256) problems.push({ file: s.file, problem: `sha256 ${digest} != manifest ${s.sha256}` });
    const opened = await openShard(file, { expectedRows: s.rows });
    if (!opened.truncated) {
      let imageBytes = 0;
      const empty: string[] = [];
      for (let r = 0; r < opened.numRows; r++) {
        const smp = opened.get(r);
        imageBytes += smp.image.byteLength;
        if (smp.image.byteLength === 0) empty.push(smp.key);
      }
      if (empty.length > 0) problems.push({ file: s.file, problem: `${empty.length} empty image(s) (first: ${empty[0]})` });
      if (s.imageBytes !== undefined && imageBytes !== s.imageBytes) problems.push({ file: s.file, problem: `image bytes ${imageBytes} != manifest ${s.imageBytes}` });
    }
    if (opened.truncated) problems.push({ file: s.file, problem: `cut short or damaged: ${opened.numRows} of ${s.rows} rows readable${opened.error ? ` (${opened.error})` : ""}` });
    else if (opened.numRows !== s.rows) problems.push({ file: s.file, problem: `rows ${opened.numRows} != manifest ${s.rows}` });
    rows += opened.numRows;
  }
  if (rows !== m.rows && problems.length === 0) problems.push({ file: MANIFEST_FILE, problem: `rows ${m.rows} != sum of shards ${rows}` });
  return { ok: problems.length === 0, shards: m.shards.length, rows, problems };
}
