// Read shards back with plain apache-arrow (independent of src/formats/shards.ts
// readers) and check the manifest's hashes and row counts.
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import * as A from "apache-arrow";
import { expect } from "vitest";

export interface Row {
  key: string;
  caption: string;
  image: Buffer;
  width: number;
  height: number;
  [col: string]: unknown;
}

export interface ReadBack {
  manifest: any;
  rows: Row[];
  byKey: Map<string, Row>;
  shardRows: number[];
}

export async function readBack(dir: string): Promise<ReadBack> {
  const manifest = JSON.parse(await fs.readFile(path.join(dir, "manifest.json"), "utf8"));
  const rows: Row[] = [];
  const shardRows: number[] = [];
  for (const s of manifest.shards) {
    const bytes = await fs.readFile(path.join(dir, s.file));
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(s.sha256);
    const t = A.tableFromIPC(bytes);
    expect(t.numRows).toBe(s.rows);
    shardRows.push(t.numRows);
    const names = t.schema.fields.map((f) => f.name);
    for (let i = 0; i < t.numRows; i++) {
      const r: Record<string, unknown> = {};
      for (const n of names) {
        const v = t.getChild(n)!.get(i);
        r[n] = n === "image" ? Buffer.from(v as Uint8Array) : v;
      }
      rows.push(r as Row);
    }
  }
  expect(rows.length).toBe(manifest.rows);
  return { manifest, rows, byKey: new Map(rows.map((r) => [r.key, r])), shardRows };
}

/** The skip reason recorded for each key. */
export function skippedByKey(manifest: any): Map<string, string> {
  return new Map(manifest.skipped.items.map((it: { key: string; reason: string }) => [it.key, it.reason]));
}
