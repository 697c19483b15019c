// The one selection format: which rows of which shards a curation step keeps.
// A selection is a folder holding `index.json` (format name and version, and per
// shard: its file in the pool manifest, the row-list file and the kept count)
// and one row list per shard (`rows-NNNNNN.u32`: sorted, distinct little-endian
// uint32 row ids). It is written shard by shard and read shard by shard, so
// neither a producer nor the loader holds the whole pool's selection: the index
// is one small entry per shard, and a row list is read when its shard is opened.
// The old single-file `selection.json` ({shard: rows} or [keys]) is still read:
// it was small by nature (it had to fit one JSON string).
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import path from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";

export const SELECTION_FORMAT = "clipts-selection";
export const SELECTION_VERSION = 1;
/** The index file inside a selection folder. */
export const SELECTION_INDEX = "index.json";

export interface SelectionShardEntry {
  /** Shard file as named in the pool manifest. */
  shard: string;
  /** Row-list file, relative to the selection folder. */
  rows: string;
  /** Number of kept rows (row-list file size / 4). */
  count: number;
}

export interface SelectionIndex {
  format: typeof SELECTION_FORMAT;
  version: number;
  shards: SelectionShardEntry[];
}

/**
 * Writes a selection folder shard by shard: `add` writes one shard's row list
 * (atomically) and keeps only its index entry; `close` writes the index last,
 * so a folder without an index is an unfinished write, never a short selection.
 */
export class SelectionWriter {
  private readonly entries: SelectionShardEntry[] = [];
  private readonly seen = new Set<string>();

  constructor(readonly dir: string) {}

  /** Whether `shard` was added already. */
  has(shard: string): boolean {
    return this.seen.has(shard);
  }

  /** Rows of one shard, any order, duplicates dropped. A shard with no rows is left out. */
  async add(shard: string, rows: Iterable<number> | ArrayLike<number>): Promise<void> {
    if (this.seen.has(shard)) throw new Error(`SelectionWriter ${this.dir}: shard ${shard} added twice`);
    this.seen.add(shard);
    const list = Uint32Array.from(rows as Iterable<number>, (r) => {
      if (!Number.isInteger(r) || r < 0 || r > 0xffffffff) throw new Error(`SelectionWriter ${this.dir}: shard ${shard}: bad row id ${r}`);
      return r;
    }).sort();
    let n = 0;
    for (let i = 0; i < list.length; i++) if (i === 0 || list[i] !== list[n - 1]) list[n++] = list[i]!;
    if (n === 0) return;
    const file = `rows-${String(this.entries.length).padStart(6, "0")}.u32`;
    const out = list.subarray(0, n);
    const bytes = new Uint8Array(out.buffer, out.byteOffset, n * 4);
    // Little-endian on disk whatever the host (every supported host is little-endian; checked here).
    if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error("SelectionWriter: big-endian hosts are not supported");
    await writeFileAtomic(path.join(this.dir, file), bytes);
    this.entries.push({ shard, rows: file, count: n });
  }

  /** Write the index; returns the folder. */
  async close(): Promise<string> {
    const index: SelectionIndex = { format: SELECTION_FORMAT, version: SELECTION_VERSION, shards: this.entries };
    await writeJsonAtomic(path.join(this.dir, SELECTION_INDEX), index);
    return this.dir;
  }
}

/** Write a whole in-memory `{shard: rows}` map as a selection folder (small selections, tests, converters). */
export async function writeSelection(dir: string, byShard: Readonly<Record<string, readonly number[]>> | ReadonlyMap<string, readonly number[]>): Promise<string> {
  const w = new SelectionWriter(dir);
  const entries = byShard instanceof Map ? [...byShard.entries()] : Object.entries(byShard);
  for (const [shard, rows] of entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) await w.add(shard, rows);
  return w.close();
}

/**
 * A row selection read shard by shard. `rows(shard)` returns that shard's
 * sorted distinct row ids (empty when the selection keeps none of it).
 */
export class ShardSelection {
  private constructor(
    /** What the selection was read from (for messages). */
    readonly source: string,
    private readonly entries: ReadonlyMap<string, SelectionShardEntry>,
    private readonly dir: string | null,
    private readonly inMemory: ReadonlyMap<string, Uint32Array> | null,
  ) {}

  /** From an in-memory `{shard: rows}` map (the old selection.json; small by nature). */
  static fromRecord(byShard: Readonly<Record<string, readonly unknown[]>>, source = "<in memory>"): ShardSelection {
    const entries = new Map<string, SelectionShardEntry>();
    const lists = new Map<string, Uint32Array>();
    for (const [shard, rows] of Object.entries(byShard)) {
      if (!Array.isArray(rows)) throw new InputError(`selection ${source}: shard ${shard}: expected an array of row ids`);
      // The old reader kept rows by Set membership: non-integer ids never matched a row.
      const ids = [...new Set(rows.filter((r): r is number => typeof r === "number" && Number.isInteger(r) && r >= 0 && r <= 0xffffffff))];
      const list = Uint32Array.from(ids).sort();
      if (list.length === 0) continue;
      lists.set(shard, list);
      entries.set(shard, { shard, rows: "", count: list.length });
    }
    return new ShardSelection(source, entries, null, lists);
  }

  /** From a selection folder (its index is read; row lists are read per shard on demand). */
  static fromFolder(dir: string): ShardSelection {
    const indexFile = path.join(dir, SELECTION_INDEX);
    if (!existsSync(indexFile)) throw new InputError(`selection ${dir}: no ${SELECTION_INDEX} (not a selection folder, or its write did not finish)`);
    let v: unknown;
    try {
      v = JSON.parse(readFileSync(indexFile, "utf8"));
    } catch (err) {
      throw new InputError(`selection ${indexFile}: not JSON (truncated?): ${(err as Error).message}`);
    }
    const ix = v as Partial<SelectionIndex> | null;
    if (!ix || typeof ix !== "object" || ix.format !== SELECTION_FORMAT) throw new InputError(`selection ${indexFile}: not a clipts selection index (format is not "${SELECTION_FORMAT}")`);
    if (ix.version !== SELECTION_VERSION) throw new InputError(`selection ${indexFile}: format version ${String(ix.version)}, this clipts reads version ${SELECTION_VERSION}`);
    if (!Array.isArray(ix.shards)) throw new InputError(`selection ${indexFile}: "shards" is not an array`);
    const entries = new Map<string, SelectionShardEntry>();
    for (const [i, e] of ix.shards.entries()) {
      if (!e || typeof e.shard !== "string" || typeof e.rows !== "string" || !Number.isInteger(e.count) || e.count < 0 || path.basename(e.rows) !== e.rows)
        throw new InputError(`selection ${indexFile}: shards[${i}] is not {shard, rows, count}`);
      if (entries.has(e.shard)) throw new InputError(`selection ${indexFile}: shard ${e.shard} listed twice`);
      const size = existsSync(path.join(dir, e.rows)) ? statSync(path.join(dir, e.rows)).size : -1;
      if (size !== e.count * 4) throw new InputError(`selection ${path.join(dir, e.rows)}: ${size < 0 ? "missing" : `${size} bytes`}, index says ${e.count} rows (${e.count * 4} bytes): truncated or foreign file`);
      entries.set(e.shard, e);
    }
    return new ShardSelection(dir, entries, dir, null);
  }

  /** Shard files the selection keeps rows of. */
  shards(): string[] {
    return [...this.entries.keys()];
  }

  /** Kept rows of one shard (0 when absent). */
  count(shard: string): number {
    return this.entries.get(shard)?.count ?? 0;
  }

  /** Kept rows in all. */
  total(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.count;
    return n;
  }

  /** One shard's sorted distinct row ids, read from its file (checked sorted and distinct). */
  rows(shard: string): Uint32Array {
    const e = this.entries.get(shard);
    if (!e) return new Uint32Array(0);
    if (this.inMemory) return this.inMemory.get(shard)!;
    const file = path.join(this.dir!, e.rows);
    const bytes = Buffer.alloc(e.count * 4);
    const fd = openSync(file, "r");
    try {
      if (fstatSync(fd).size !== bytes.length) throw new InputError(`selection ${file}: size changed since the index was read (truncated?)`);
      let off = 0;
      while (off < bytes.length) {
        const n = readSync(fd, bytes, off, bytes.length - off, off);
        if (n === 0) throw new InputError(`selection ${file}: truncated`);
        off += n;
      }
    } finally {
      closeSync(fd);
    }
    const list = new Uint32Array(bytes.buffer, bytes.byteOffset, e.count);
    for (let i = 1; i < list.length; i++) if (list[i]! <= list[i - 1]!) throw new InputError(`selection ${file}: row ids not sorted and distinct at position ${i} (foreign or corrupt file)`);
    return list;
  }

  /** The whole selection as `{shard: rows}`: small selections only (tests, reports). */
  toRecord(): Record<string, number[]> {
    return Object.fromEntries(this.shards().map((s) => [s, [...this.rows(s)]]));
  }

  /** Largest kept row id of a shard (-1 when none), read without the whole list. */
  lastRow(shard: string): number {
    const e = this.entries.get(shard);
    if (!e || e.count === 0) return -1;
    if (this.inMemory) {
      const l = this.inMemory.get(shard)!;
      return l[l.length - 1]!;
    }
    const fd = openSync(path.join(this.dir!, e.rows), "r");
    try {
      const b = Buffer.alloc(4);
      readSync(fd, b, 0, 4, (e.count - 1) * 4);
      return b.readUInt32LE(0);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Fail before any work when the selection names a shard the manifest lacks
   * or a row past a shard's end (reads 4 bytes per shard).
   */
  checkAgainst(manifest: { shards: readonly { file: string; rows: number }[] }, where = "selection"): void {
    const rowsOf = new Map(manifest.shards.map((s) => [s.file, s.rows]));
    for (const shard of this.entries.keys()) {
      const n = rowsOf.get(shard);
      if (n === undefined) throw new InputError(`${where} ${this.source}: shard ${shard} is not in the pool's manifest`);
      const last = this.lastRow(shard);
      // -1: a tar whose count is known only once it is read (checked then).
      if (n >= 0 && last >= n) throw new InputError(`${where} ${this.source}: shard ${shard}: row ${last} is past the shard's end (${n} rows)`);
    }
  }
}

/** What a selection file or folder holds: row lists per shard, or a set of keys. */
export type LoadedSelection = ShardSelection | ReadonlySet<string>;

/**
 * Open a selection given as: a selection folder (or its index.json), an old
 * `selection.json` ({shard: rows} or an array of keys), or a text file of one
 * key per line. A `kept.jsonl` or a match sidecar is refused with the file to use.
 */
export function openSelection(file: string, where = "selection"): LoadedSelection {
  if (!existsSync(file)) throw new InputError(`${where}: ${file} does not exist`);
  if (statSync(file).isDirectory()) {
    if (existsSync(path.join(file, SELECTION_INDEX))) return ShardSelection.fromFolder(file);
    if (existsSync(path.join(file, "selection", SELECTION_INDEX))) return ShardSelection.fromFolder(path.join(file, "selection"));
    throw new InputError(`${where} ${file}: a folder without ${SELECTION_INDEX}; give the selection folder a curation step wrote (e.g. OUTPUT/selection)`);
  }
  if (path.basename(file) === SELECTION_INDEX) return ShardSelection.fromFolder(path.dirname(file));
  const base = path.basename(file);
  if (base.endsWith(".jsonl"))
    throw new InputError(
      `${where} ${file}: a JSONL file (${base === "kept.jsonl" ? "balance's or filter's list of kept texts" : "matches or scores"}) is not a selection; give the selection folder beside it (${path.join(path.dirname(file), "selection")})`,
    );
  if (statSync(file).size > 512 * 1024 * 1024)
    throw new InputError(`${where} ${file}: ${statSync(file).size} bytes is too large for a single-file selection; convert it with \`clipts data convert-selection --input FILE --output DIR\` on a machine that can read it, or re-run the curation step, which writes a selection folder`);
  const text = readFileSync(file, "utf8");
  if (file.endsWith(".json")) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw new InputError(`${where} ${file}: not JSON (truncated?): ${(err as Error).message}`);
    }
    if (Array.isArray(v) && v.every((k) => typeof k === "string")) return new Set(v as string[]);
    if (v && typeof v === "object" && !Array.isArray(v)) {
      if ((v as { format?: unknown }).format !== undefined) throw new InputError(`${where} ${file}: a JSON object with a "format" field is not a {shard: row ids} selection`);
      return ShardSelection.fromRecord(v as Record<string, unknown[]>, file);
    }
    throw new InputError(`${where} ${file}: expected an array of keys or a {shard: row ids} object`);
  }
  return new Set(text.split("\n").map((l) => l.trim()).filter((l) => l !== ""));
}

/** Convert an old single-file selection.json ({shard: rows}) to a selection folder. */
export async function convertSelection(file: string, outDir: string): Promise<ShardSelection> {
  const sel = openSelection(file);
  if (!(sel instanceof ShardSelection)) throw new InputError(`selection ${file}: a key list has no row ids to convert (it is read as is)`);
  const w = new SelectionWriter(outDir);
  for (const shard of sel.shards()) await w.add(shard, sel.rows(shard));
  await w.close();
  return ShardSelection.fromFolder(outDir);
}

/**
 * Join the selection folders of job-array tasks (each over its own shards) into
 * one folder, shard by shard. A shard named by two inputs is an error.
 */
export async function mergeSelections(inputs: readonly string[], outDir: string): Promise<ShardSelection> {
  const w = new SelectionWriter(outDir);
  for (const dir of inputs) {
    const sel = ShardSelection.fromFolder(dir);
    for (const shard of sel.shards()) {
      if (w.has(shard)) throw new InputError(`selection ${dir}: shard ${shard} is also in an earlier input (job-array tasks must cover different shards)`);
      await w.add(shard, sel.rows(shard));
    }
  }
  await w.close();
  return ShardSelection.fromFolder(outDir);
}

/**
 * Per-epoch row filter (MetaCLIP online balancing plugs in here). Called with
 * the row's key, its row index in its shard, the epoch and the shard file.
 */
export type SampleFilter = (key: string, rowIndex: number, epoch: number, shard: string) => boolean;

/**
 * Per-epoch copies of a row (language upsampling plugs in here): called for a
 * row that passed selection, sampler and the rank split; the row is emitted
 * that many times in a row before the shuffle buffer (0 drops it). Must be a
 * deterministic function of its arguments so a restored stream repeats it.
 */
export type RepeatCount = (key: string, rowIndex: number, epoch: number, shard: string) => number;

/**
 * Rows to keep: a set of keys, or row ids per shard file (a ShardSelection read
 * shard by shard from a selection folder, or a small in-memory map); a shard
 * the selection does not name keeps no rows.
 */
export type Selection = ReadonlySet<string> | ShardSelection | Readonly<Record<string, readonly number[]>>;
