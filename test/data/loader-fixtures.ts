// Test scaffolding for the loader: real Arrow IPC shards + manifest.json,
// written to a temp directory (images: makeImage in ./fixtures.ts).
import { mkdtempSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { Binary, Int32, Utf8, makeTable, tableToIPC, vectorFromArray } from "apache-arrow";
import type { Manifest } from "../../src/formats/types.js";
import { makeImage } from "./fixtures.js";

export interface Row {
  key: string | null;
  caption: string | null;
  image: Uint8Array | null;
  width: number;
  height: number;
  label?: number | null;
}

/** Write shards (one .arrow file each) and manifest.json; returns the directory. */
export function writeShards(shards: Row[][], dir = mkdtempSync(path.join(tmpdir(), "clipts-loader-"))): string {
  const entries: Manifest["shards"] = [];
  shards.forEach((rows, i) => {
    const table = makeTable({
      key: vectorFromArray(rows.map((r) => r.key), new Utf8()),
      caption: vectorFromArray(rows.map((r) => r.caption), new Utf8()),
      image: vectorFromArray(rows.map((r) => r.image), new Binary()),
      width: vectorFromArray(rows.map((r) => r.width), new Int32()),
      height: vectorFromArray(rows.map((r) => r.height), new Int32()),
      label: vectorFromArray(rows.map((r) => r.label ?? null), new Int32()),
      lang: vectorFromArray(rows.map(() => "en"), new Utf8()),
    });
    const bytes = tableToIPC(table, "file");
    const file = `shard-${String(i).padStart(5, "0")}.arrow`;
    writeFileSync(path.join(dir, file), bytes);
    entries.push({ file, rows: rows.length, sha256: createHash("sha256").update(bytes).digest("hex") });
  });
  const manifest: Manifest = {
    format: "clipts-shards",
    version: 1,
    rows: entries.reduce((a, s) => a + s.rows, 0),
    columns: ["key", "caption", "image", "width", "height", "label", "lang"],
    shards: entries,
    skipped: { count: 0, byReason: {}, keys: [] },
  };
  writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest));
  return dir;
}

/** `nShards` shards of `perShard` good rows; keys s{shard}-{row}, label = row. */
export async function goodShards(nShards: number, perShard: number, w = 40, h = 30): Promise<string> {
  const shards: Row[][] = [];
  for (let s = 0; s < nShards; s++) {
    const rows: Row[] = [];
    for (let r = 0; r < perShard; r++) {
      rows.push({ key: `s${s}-${r}`, caption: `a photo ${s} ${r}`, image: await makeImage("jpeg", w + r, h + s, s * 1000 + r), width: w + r, height: h + s, label: r });
    }
    shards.push(rows);
  }
  return writeShards(shards);
}

/** Test tokenizer: char codes, zero padded/truncated to ctx (stands in for the real one, a loader parameter). */
export function charTokenize(ctx: number): (texts: string[]) => Int32Array {
  return (texts) => {
    const out = new Int32Array(texts.length * ctx);
    texts.forEach((t, i) => {
      for (let j = 0; j < Math.min(ctx, t.length); j++) out[i * ctx + j] = t.charCodeAt(j);
    });
    return out;
  };
}
