// Shard access used by the loader. TEMPORARY: the project's shard reader is
// src/data/shards.ts (ingest stage); once it lands this file becomes a thin
// adapter over it. It only reads manifest.json and whole Arrow IPC files.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { tableFromIPC, type Table } from "apache-arrow";
import { InputError } from "../util/errors.js";
import type { Manifest } from "./types.js";

/** Row access to one loaded shard; getters return null for missing values. */
export interface ShardRows {
  file: string;
  rows: number;
  key(i: number): string | null;
  caption(i: number): unknown;
  image(i: number): Uint8Array | null;
  label(i: number): number | null;
}

export async function readManifest(dir: string): Promise<Manifest> {
  const file = path.join(dir, "manifest.json");
  let m: Manifest;
  try {
    m = JSON.parse(await readFile(file, "utf8")) as Manifest;
  } catch (e) {
    throw new InputError(`${file}: cannot read shard manifest (${(e as Error).message})`);
  }
  if (m.format !== "clipts-shards" || !Array.isArray(m.shards)) {
    throw new InputError(`${file}: not a clipts-shards manifest`);
  }
  return m;
}

export async function openShard(dir: string, file: string): Promise<ShardRows> {
  const full = path.join(dir, file);
  let table: Table;
  try {
    table = tableFromIPC(await readFile(full));
  } catch (e) {
    throw new InputError(`${full}: cannot read Arrow shard (${(e as Error).message})`);
  }
  const col = (name: string) => table.getChild(name);
  const key = col("key"), caption = col("caption"), image = col("image"), label = col("label");
  if (!key || !image) throw new InputError(`${full}: shard lacks a key or image column`);
  return {
    file,
    rows: table.numRows,
    key: (i) => (key.get(i) as string | null) ?? null,
    caption: (i) => (caption ? caption.get(i) : null),
    image: (i) => (image.get(i) as Uint8Array | null) ?? null,
    label: (i) => (label ? ((label.get(i) as number | null) ?? null) : null),
  };
}
