// Curation steps of the ablation on small real Arrow shards: entry counts,
// match/balance selections (through curate match / balance on the pool's
// sidecars), user selection files, and the Zipf pool shape.
import { openSelection, type ShardSelection } from "../../src/formats/selection.js";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { curateVariant, matchPool, type MatchedPool } from "../../src/ablation/curate.js";
import { listShards } from "../../src/formats/shards.js";
import { replicateRows, zipfCopies } from "../../src/ablation/pool.js";
import type { DemoRow } from "../../src/data/demo.js";
import { DEMO_LANGUAGES, loadEmojiNames } from "../../src/data/demo-sources.js";
import { writeShards, type Row } from "../data/loader-fixtures.js";
import { makeImage } from "../data/fixtures.js";

/** A written selection folder as {shard: rows}. */
const selOf = (f: string) => (openSelection(f) as ShardSelection).toRecord();

const captions = [
  ["a cat on a mat", "a black cat", "cat", "IMG_0042.JPG"],
  ["a dog", "a cat and a dog", "untitled", "dogs , cats"],
];

let pool: MatchedPool;
let shardsDir: string;
let files: string[];

beforeAll(async () => {
  const img = await makeImage("png", 8, 8, 1);
  const shards: Row[][] = captions.map((cs, s) => cs.map((caption, i) => ({ key: `k${s}-${i}`, caption, image: img, width: 8, height: 8 })));
  shardsDir = writeShards(shards);
  const work = mkdtempSync(path.join(tmpdir(), "clipts-abl-pool-"));
  const metadata = path.join(work, "metadata.json");
  writeFileSync(metadata, JSON.stringify(["cat", "dog", "black cat"]));
  pool = await matchPool(shardsDir, metadata, path.join(work, "matches"), true);
  files = (await listShards(shardsDir)).shards.map((s) => s.file);
});

describe("ablation curation", () => {
  it("counts matches per entry over the pool with MetaCLIP's word-bounded substring test", () => {
    // "cat": rows 0-0, 0-1, 0-2, 1-1 ("cats" is not "cat"); "dog": 1-0, 1-1; "black cat": 0-1.
    expect([...pool.counts]).toEqual([4, 2, 1]);
    expect({ rows: pool.rows, matched: pool.matched, badRows: pool.badRows }).toEqual({ rows: 8, matched: 5, badRows: 0 });
  });

  it("match and balance write {shard: rows} selections; balance keeps every text of an entry below t", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-abl-cur-"));
    const m = await curateVariant({ name: "m", curation: "match" }, pool, 8, dir, "variants[0]");
    expect(m.poolSize).toBe(5);
    expect(selOf(m.selection!)).toEqual({ [files[0]!]: [0, 1, 2], [files[1]!]: [0, 1] });
    // t = 2: "dog" (2) and "black cat" (1) keep all their texts; "cat" texts without them pass with p = 1/2.
    const b = await curateVariant({ name: "b", curation: "balance", t: 2, seed: 0 }, pool, 8, dir, "variants[1]");
    const kept = Object.entries(selOf(b.selection!)).flatMap(([f, rs]) => rs.map((r) => `${f}#${r}`));
    for (const must of [`${files[0]}#1`, `${files[1]}#0`, `${files[1]}#1`]) expect(kept).toContain(must);
    expect(b.poolSize).toBe(kept.length);
    expect(b.datacard!.card.texts.expectedKept).toBeCloseTo(3 + 0.5 + 0.5, 12);
    const none = await curateVariant({ name: "r", curation: "none" }, pool, 8, dir, "variants[2]");
    expect(none).toEqual({ selection: null, poolSize: 8 });
  });

  it("a user selection file (keys, {shard: rows} or lines) is passed through and sized against the pool", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-abl-sel-"));
    const keys = path.join(dir, "keys.json");
    writeFileSync(keys, JSON.stringify(["k0-0", "k1-3", "not-in-pool"]));
    const lines = path.join(dir, "keys.txt");
    writeFileSync(lines, "k0-1\nk0-2\n\n");
    const map = path.join(dir, "rows.json");
    writeFileSync(map, JSON.stringify({ [files[0]!]: [0, 3, 3] }));
    expect((await curateVariant({ name: "a", curation: "selection", file: keys }, pool, 8, dir, "v")).poolSize).toBe(2);
    expect((await curateVariant({ name: "b", curation: "selection", file: lines }, pool, 8, dir, "v")).poolSize).toBe(2);
    const r = await curateVariant({ name: "c", curation: "selection", file: map }, pool, 8, dir, "v");
    expect(r).toEqual({ selection: map, poolSize: 2 });
    await expect(curateVariant({ name: "d", curation: "selection", file: path.join(dir, "missing.json") }, pool, 8, dir, "variants[3]")).rejects.toThrow(
      /variants\[3\]\.file: .*missing\.json does not exist/,
    );
  });

  it("Zipf replication: rank r gets max(1, round(max_copies r^-s)) copies with fresh captions of the same concept", () => {
    expect([1, 2, 3, 4, 10, 100].map((r) => zipfCopies(r, 1, 20))).toEqual([20, 10, 7, 5, 2, 1]);
    const names = new Map(DEMO_LANGUAGES.map((l) => [l, loadEmojiNames(l)]));
    const base: DemoRow[] = ["1F431", "1F436", "1F34E"].flatMap((c) =>
      [0, 1].map((k) => ({ key: `noto-${c.toLowerCase()}-${k}`, image: `images/noto/${c.toLowerCase()}.png`, caption: "x", lang: "en", style: "noto", concept: c, kind: "template" as const })),
    );
    const { rows, replication } = replicateRows(base, "/demo", { zipf: 1, max_copies: 4, seed: 0 }, names);
    const per = new Map<string, number>();
    for (const r of rows) per.set(r.concept, (per.get(r.concept) ?? 0) + 1);
    expect([...per.values()].sort((a, b) => b - a)).toEqual([8, 4, 2]); // 2 rows x copies 4, 2, 1
    expect(replication).toMatchObject({ concepts: 3, rowsBefore: 6, rowsAfter: 14 });
    expect(new Set(rows.map((r) => r.key)).size).toBe(14);
    for (const r of rows) expect(r.image).toBe(path.resolve("/demo", base.find((b) => b.concept === r.concept)!.image));
    // Copies carry generated captions, not the original's.
    expect(rows.filter((r) => r.key.includes("~")).every((r) => r.caption !== "x")).toBe(true);
  });
});
