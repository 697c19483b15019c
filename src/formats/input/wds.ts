// WebDataset tar shards as written by img2dataset: consecutive members
// KEY.jpg|png|webp, KEY.txt (caption), optional KEY.json (metadata) and
// KEY.cls (class index), with SHARD.parquet beside SHARD.tar holding the same
// per-sample metadata. A tar cut short yields its complete samples; the sample
// whose member was cut is skipped with its key.
import { promises as fs } from "node:fs";
import path from "node:path";
import { InputError } from "../../util/errors.js";
import { decodeUtf8, IMAGE_EXTENSIONS, MAX_TEXT_MEMBER_BYTES, toExtra, toLabel, type ExtraValue, type FormatSource, type ReaderItem } from "./common.js";
import { openParquet, parquetRows } from "./parquet.js";
import { splitMemberName } from "../webdataset.js";
import { tarMembers, TarReadError } from "./tar-reader.js";
import { spawn } from "node:child_process";
import { PassThrough, type Readable } from "node:stream";

/** Metadata fields that are columns of their own (or recomputed from the bytes). */
const RESERVED = new Set(["key", "caption", "width", "height", "image", "label", "lang", "language"]);
const IMAGE_PRIORITY = ["jpg", "jpeg", "png", "webp", ...IMAGE_EXTENSIONS];

/** The tar files of an input: one .tar, or every .tar in a folder (sorted). */
export async function listTars(input: string): Promise<string[]> {
  const st = await fs.stat(input).catch(() => null);
  if (!st) throw new InputError(`${input}: input not found`);
  if (st.isFile()) return [input];
  const names = (await fs.readdir(input)).filter((n) => n.toLowerCase().endsWith(".tar")).sort();
  if (names.length === 0) throw new InputError(`${input}: no .tar files in the folder`);
  return names.map((n) => path.join(input, n));
}

function sideParquetPath(tarFile: string): string {
  return tarFile.replace(/\.tar$/i, ".parquet");
}

async function exists(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => null)) !== null;
}

/** Per-key metadata from SHARD.parquet beside SHARD.tar (empty when absent). */
async function sideParquet(tarFile: string): Promise<Map<string, Record<string, unknown>>> {
  const pqFile = sideParquetPath(tarFile);
  const out = new Map<string, Record<string, unknown>>();
  if (pqFile === tarFile || !(await exists(pqFile))) return out;
  const pq = await openParquet(pqFile);
  if (!pq.columns.includes("key")) throw new InputError(`${pqFile}: no "key" column to match tar members; columns are: ${pq.columns.join(", ")}`);
  for await (const r of parquetRows(pqFile, pq)) {
    if (r.error) throw new InputError(`${pqFile}: ${r.error}`);
    const key = r.values!.key;
    if (key !== null && key !== undefined) out.set(String(key), r.values!);
  }
  return out;
}

/**
 * Samples a tar should hold, from its parquet: rows with status "success"
 * (img2dataset lists failed downloads too). Only the status column is read;
 * this also checks every parquet's schema before any shard is written.
 */
async function expectedSamples(tarFile: string): Promise<{ count: number; parquet: boolean }> {
  const pqFile = sideParquetPath(tarFile);
  if (pqFile === tarFile || !(await exists(pqFile))) return { count: 0, parquet: false };
  const pq = await openParquet(pqFile);
  if (!pq.columns.includes("key")) throw new InputError(`${pqFile}: no "key" column to match tar members; columns are: ${pq.columns.join(", ")}`);
  if (!pq.columns.includes("status")) return { count: Number(pq.metadata.num_rows), parquet: true };
  let count = 0;
  for await (const r of parquetRows(pqFile, pq, ["status"])) {
    if (r.error) throw new InputError(`${pqFile}: ${r.error}`);
    if (r.values!.status === "success") count++;
  }
  return { count, parquet: true };
}

export interface WdsLimits {
  /** Image members longer than this are skipped (not buffered). */
  maxImageBytes: number;
  /** Other members (.txt, .json, .cls) longer than this are skipped (not buffered). */
  maxTextBytes?: number;
  /** Where members' bytes go (default: a Buffer each; the loader's tar reader worker carves them out of large blocks it then moves). */
  allocate?: (size: number) => Buffer;
}

export async function readWds(input: string, limits: WdsLimits = { maxImageBytes: 256 * 2 ** 20 }): Promise<FormatSource> {
  const tars = await listTars(input);
  let total = 0;
  const files = [...tars];
  for (const t of tars) {
    const e = await expectedSamples(t);
    total += e.count;
    if (e.parquet) files.push(sideParquetPath(t));
  }
  async function* items(): AsyncGenerator<ReaderItem> {
    // Side metadata is loaded one tar at a time, so memory stays per-shard.
    for (const t of tars) yield* readTar(t, await sideParquet(t), limits);
  }
  return { items: items(), total, files };
}

interface Group {
  key: string;
  members: Map<string, Buffer>;
  /** Where each member's bytes start in the tar. */
  offsets: Map<string, number>;
  /** Set when a member was over its size limit: the whole sample is skipped with this reason. */
  tooLarge?: string;
}

/** A local file's bytes in 1 MiB reads into one reused buffer (the tar reader copies each member out before the next read). */
async function* fileChunks(file: string): AsyncGenerator<Buffer> {
  const h = await fs.open(file, "r");
  try {
    const buf = Buffer.allocUnsafeSlow(1 << 20);
    for (;;) {
      const { bytesRead } = await h.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await h.close();
  }
}

/**
 * A tar's bytes: a local file, or the stdout of a `pipe:CMD` (run by
 * /bin/sh, as open_clip does for object stores). A command that exits
 * non-zero ends the stream with an error naming it, so the tar counts as cut
 * where its output stopped.
 */
function tarStream(source: string): { stream: AsyncIterable<Buffer>; stop: () => void } {
  if (!source.startsWith("pipe:")) {
    const stream = fileChunks(source);
    return { stream, stop: () => void stream.return(undefined).catch(() => {}) };
  }
  const cmd = source.slice(5);
  const child = spawn("/bin/sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => void (stderr.length < 2000 && (stderr += c.toString("utf8"))));
  const out = child.stdout;
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  // Hold the end of stdout until the command's status is known.
  const stream = new PassThrough();
  out.pipe(stream, { end: false });
  out.on("end", () => {
    void exited.then((code) => {
      if (code === 0) stream.end();
      else stream.destroy(new Error(`command failed (exit ${code}): ${cmd}${stderr ? ` — ${stderr.trim().slice(0, 500)}` : ""}`));
    });
  });
  child.on("error", (err) => stream.destroy(err));
  return { stream, stop: () => { child.kill(); stream.destroy(); } };
}

/**
 * The samples of one tar in member order: a ReaderItem per key (consecutive
 * members sharing it), or a skip item for a sample that cannot be used (and,
 * last, one for a cut tar: key `NAME#end` or the cut member's key).
 */
export async function* readTarSamples(source: string, limits: WdsLimits): AsyncGenerator<ReaderItem> {
  // A local tar's SHARD.parquet adds its per-sample metadata, as ingest does (a pipe: has none).
  yield* readTar(source, source.startsWith("pipe:") ? new Map() : await sideParquet(source), limits);
}

async function* readTar(file: string, meta: Map<string, Record<string, unknown>>, limits: WdsLimits): AsyncGenerator<ReaderItem> {
  const maxText = limits.maxTextBytes ?? MAX_TEXT_MEMBER_BYTES;
  const limit = (name: string) => (IMAGE_EXTENSIONS.has(splitMemberName(name).ext) ? limits.maxImageBytes : maxText);
  const { stream: source, stop } = tarStream(file);
  // A local tar's images can be read again where they lie (the loader's decode workers do).
  const local = file.startsWith("pipe:") ? null : path.resolve(file);
  let group: Group | null = null;
  try {
    // The header gives the size before any byte is read: an oversize member is skipped, not kept.
    for await (const m of tarMembers(source, limit, limits.allocate)) {
      if (m.type !== "file") continue;
      const { key, ext } = splitMemberName(m.name);
      if (group && group.key !== key) {
        yield makeItem(group, meta, local);
        group = null;
      }
      group ??= { key, members: new Map(), offsets: new Map() };
      if (!m.data) group.tooLarge ??= `tar member too large: ${m.name} in ${path.basename(file)} (${m.size} bytes > max ${limit(m.name)})`;
      else {
        group.members.set(ext, m.data);
        group.offsets.set(ext, m.offset);
      }
    }
  } catch (err) {
    const msg = (err as Error).message;
    const base = file.startsWith("pipe:") ? file : path.basename(file);
    // The member being read when the tar broke (null between members, or a failed read).
    const current = err instanceof TarReadError ? err.member : null;
    if (current !== null) {
      const { key } = splitMemberName(current);
      if (group && group.key !== key) yield makeItem(group, meta, local);
      yield { key, skip: `truncated tar member: ${current} in ${base} (${msg})` };
    } else {
      if (group) yield makeItem(group, meta, local);
      yield { key: `${base}#end`, skip: `broken tar: ${base} (${msg})` };
    }
    group = null;
  } finally {
    stop();
  }
  if (group) yield makeItem(group, meta, local);
}

/** A sample's item; `local`: the tar's path, when its image can be read again there. */
function makeItem(g: Group, meta: Map<string, Record<string, unknown>>, local: string | null): ReaderItem {
  const key = g.key;
  if (g.tooLarge) return { key, skip: g.tooLarge };
  const imageExt = IMAGE_PRIORITY.find((e) => g.members.has(e));
  if (!imageExt) return { key, skip: `missing image (members: ${[...g.members.keys()].join(", ")})` };
  let json: Record<string, unknown> = {};
  const jsonBytes = g.members.get("json");
  if (jsonBytes) {
    const { text, ok } = decodeUtf8(jsonBytes);
    if (!ok) return { key, skip: "invalid UTF-8 in KEY.json" };
    try {
      const v: unknown = JSON.parse(text);
      if (v === null || typeof v !== "object" || Array.isArray(v)) return { key, skip: "KEY.json is not an object" };
      json = v as Record<string, unknown>;
    } catch {
      return { key, skip: "invalid JSON in KEY.json" };
    }
  }
  const side = meta.get(key) ?? {};
  const image = g.members.get(imageExt)!;
  const item: ReaderItem & { extra: Record<string, ExtraValue> } = { key, image, extra: {} };
  if (local !== null) item.imageAt = { file: local, offset: g.offsets.get(imageExt)!, length: image.length };
  const txt = g.members.get("txt");
  if (txt) {
    const { text, ok } = decodeUtf8(txt);
    if (!ok) item.captionInvalid = true;
    else item.caption = text;
  } else {
    const c = json.caption ?? side.caption;
    item.caption = typeof c === "string" ? c : null;
  }
  const cls = g.members.get("cls");
  const labelRaw = cls ? decodeUtf8(cls).text.trim() : (json.label ?? side.label);
  if (labelRaw !== undefined && labelRaw !== null && labelRaw !== "") {
    const label = toLabel(labelRaw);
    if (label === undefined) return { key, skip: `invalid label: ${JSON.stringify(String(labelRaw))}` };
    item.label = label;
  }
  const lang = json.lang ?? json.language ?? side.lang ?? side.language;
  if (typeof lang === "string" && lang !== "") item.lang = lang;
  // Parquet first, KEY.json over it: both describe the same sample.
  for (const src of [side, json]) {
    for (const [name, value] of Object.entries(src)) {
      if (RESERVED.has(name)) continue;
      const x = toExtra(value);
      if (x !== undefined) item.extra[name] = x;
    }
  }
  return item;
}
