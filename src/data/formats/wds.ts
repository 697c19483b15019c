// WebDataset tar shards as written by img2dataset: consecutive members
// KEY.jpg|png|webp, KEY.txt (caption), optional KEY.json (metadata) and
// KEY.cls (class index), with SHARD.parquet beside SHARD.tar holding the same
// per-sample metadata. A tar cut short yields its complete samples; the sample
// whose member was cut is skipped with its key.
import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import tar from "tar-stream";
import { InputError } from "../../util/errors.js";
import { decodeUtf8, IMAGE_EXTENSIONS, toExtra, toLabel, type ExtraValue, type FormatSource, type ReaderItem } from "./common.js";
import { openParquet, parquetRows } from "./parquet.js";

/** Metadata fields that are columns of their own (or recomputed from the bytes). */
const RESERVED = new Set(["key", "caption", "width", "height", "image", "label", "lang", "language"]);
const IMAGE_PRIORITY = ["jpg", "jpeg", "png", "webp", ...IMAGE_EXTENSIONS];

/** WebDataset naming: the key is the path up to the first dot of the file name. */
export function splitMemberName(name: string): { key: string; ext: string } {
  const slash = name.lastIndexOf("/");
  const dot = name.indexOf(".", slash + 1);
  if (dot < 0) return { key: name, ext: "" };
  return { key: name.slice(0, dot), ext: name.slice(dot + 1).toLowerCase() };
}

/** The tar files of an input: one .tar, or every .tar in a folder (sorted). */
export async function listTars(input: string): Promise<string[]> {
  const st = await fs.stat(input).catch(() => null);
  if (!st) throw new InputError(`${input}: input not found`);
  if (st.isFile()) return [input];
  const names = (await fs.readdir(input)).filter((n) => n.toLowerCase().endsWith(".tar")).sort();
  if (names.length === 0) throw new InputError(`${input}: no .tar files in the folder`);
  return names.map((n) => path.join(input, n));
}

/** Per-key metadata from SHARD.parquet beside SHARD.tar (empty when absent). */
async function sideParquet(tarFile: string): Promise<Map<string, Record<string, unknown>>> {
  const pqFile = tarFile.replace(/\.tar$/i, ".parquet");
  const out = new Map<string, Record<string, unknown>>();
  if (pqFile === tarFile || !(await fs.stat(pqFile).catch(() => null))) return out;
  const pq = await openParquet(pqFile);
  if (!pq.columns.includes("key")) throw new InputError(`${pqFile}: no "key" column to match tar members; columns are: ${pq.columns.join(", ")}`);
  for await (const r of parquetRows(pqFile, pq)) {
    if (r.error) throw new InputError(`${pqFile}: ${r.error}`);
    const key = r.values!.key;
    if (key !== null && key !== undefined) out.set(String(key), r.values!);
  }
  return out;
}

export async function readWds(input: string): Promise<FormatSource> {
  const tars = await listTars(input);
  // Progress total: successful rows of the parquet files when present.
  let total = 0;
  const metas: Map<string, Record<string, unknown>>[] = [];
  for (const t of tars) {
    const m = await sideParquet(t);
    metas.push(m);
    for (const v of m.values()) if (v.status === undefined || v.status === "success") total++;
  }
  async function* items(): AsyncGenerator<ReaderItem> {
    for (const [i, t] of tars.entries()) yield* readTar(t, metas[i]);
  }
  return { items: items(), total, files: [...tars, ...tars.map((t) => t.replace(/\.tar$/i, ".parquet")).filter((_, i) => metas[i].size > 0)] };
}

interface Group {
  key: string;
  members: Map<string, Buffer>;
}

async function* readTar(file: string, meta: Map<string, Record<string, unknown>>): AsyncGenerator<ReaderItem> {
  const extract = tar.extract();
  const source = createReadStream(file);
  source.on("error", (err) => extract.destroy(err));
  source.pipe(extract);
  let group: Group | null = null;
  let current: string | null = null; // member being read, null between members
  try {
    for await (const entry of extract) {
      const name = entry.header.name;
      current = name;
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      current = null;
      if (entry.header.type !== "file") continue;
      const { key, ext } = splitMemberName(name);
      if (group && group.key !== key) {
        yield makeItem(group, meta);
        group = null;
      }
      group ??= { key, members: new Map() };
      group.members.set(ext, Buffer.concat(chunks));
    }
  } catch (err) {
    const msg = (err as Error).message;
    const base = path.basename(file);
    if (current !== null) {
      const { key } = splitMemberName(current);
      if (group && group.key !== key) yield makeItem(group, meta);
      yield { key, skip: `truncated tar member: ${current} in ${base} (${msg})` };
    } else {
      if (group) yield makeItem(group, meta);
      yield { key: `${base}#end`, skip: `broken tar: ${base} (${msg})` };
    }
    group = null;
  } finally {
    source.destroy();
  }
  if (group) yield makeItem(group, meta);
}

function makeItem(g: Group, meta: Map<string, Record<string, unknown>>): ReaderItem {
  const key = g.key;
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
  const item: ReaderItem & { extra: Record<string, ExtraValue> } = { key, image: g.members.get(imageExt)!, extra: {} };
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
