import { describe, expect, it } from "vitest";
import { mkdtempSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import * as A from "apache-arrow";
import { listShards, openShard, readShard, ShardWriter, verifyShards, type ShardSkip } from "../../src/formats/shards.js";
import type { Sample } from "../../src/formats/types.js";

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), "clipts-shards-"));
}

function sample(i: number): Sample {
  const image = new Uint8Array(300 + i).map((_, j) => (i * 31 + j) & 255);
  const s: Sample = { key: `k${i}`, caption: `caption ${i} ✓`, image, width: 10 + i, height: 20 + i };
  if (i % 3 !== 0) s.label = i % 5;
  if (i % 2 === 0) s.lang = "en";
  s.extra = { score: i / 4, source: i % 4 === 0 ? null : `src${i}` };
  return s;
}

async function writeSamples(dir: string, n: number, rowsPerShard: number, batchRows = 4) {
  const w = new ShardWriter(dir, { rowsPerShard, batchRows });
  await w.start();
  for (let i = 0; i < n; i++) await w.add(sample(i));
  w.skip("bad1", "corrupt image");
  return w.finish();
}

describe("ShardWriter + readers", () => {
  it("writes fixed rows per shard and reads back identical rows (apache-arrow, openShard, readShard)", async () => {
    const dir = tmp();
    const m = await writeSamples(dir, 23, 10);
    expect(m.shards.map((s) => s.rows)).toEqual([10, 10, 3]);
    expect(m.rows).toBe(23);
    expect(m.skipped.count).toBe(1);
    expect(m.skipped.items?.[0]).toMatchObject({ key: "bad1", reason: "corrupt image" });
    expect(m.columns).toEqual(expect.arrayContaining(["key", "caption", "image", "width", "height", "label", "lang", "score", "source"]));
    expect(m.extraColumns).toEqual({ score: "float64", source: "utf8" });
    // Independent read with plain apache-arrow.
    const t = A.tableFromIPC(await fs.readFile(path.join(dir, m.shards[1].file)));
    expect(t.numRows).toBe(10);
    expect(t.batches.length).toBe(3); // 4+4+2 rows per record batch
    expect(t.get(0)!.key).toBe("k10");
    expect(Buffer.from(t.getChild("image")!.get(0) as Uint8Array).equals(Buffer.from(sample(10).image))).toBe(true);
    // Manifest hashes are sha256 of the shard files.
    for (const s of m.shards) {
      const h = createHash("sha256").update(await fs.readFile(path.join(dir, s.file))).digest("hex");
      expect(s.sha256).toBe(h);
    }
    expect((await verifyShards(dir)).ok).toBe(true);
    const listed = await listShards(dir);
    expect(listed.shards.length).toBe(3);
    let i = 0;
    for (const s of listed.shards) {
      const opened = await openShard(path.join(dir, s.file), { expectedRows: s.rows });
      expect(opened.truncated).toBe(false);
      const streamed: Sample[] = [];
      for await (const r of readShard(path.join(dir, s.file))) streamed.push(r.sample);
      expect(streamed.length).toBe(s.rows);
      for (let r = 0; r < opened.numRows; r++, i++) {
        const want = sample(i);
        for (const got of [opened.get(r), streamed[r]]) {
          expect(got.key).toBe(want.key);
          expect(got.caption).toBe(want.caption);
          expect(Buffer.from(got.image).equals(Buffer.from(want.image))).toBe(true);
          expect([got.width, got.height]).toEqual([want.width, want.height]);
          expect(got.label).toBe(want.label);
          expect(got.lang).toBe(want.lang);
          expect(got.extra).toEqual(want.extra);
        }
      }
    }
    expect(i).toBe(23);
  });

  it("reads a shard cut short up to the cut and reports the rest", async () => {
    const dir = tmp();
    const m = await writeSamples(dir, 12, 12, 4);
    const file = path.join(dir, m.shards[0].file);
    const bytes = await fs.readFile(file);
    // Find where the third record batch starts: cut in its middle.
    const full = A.tableFromIPC(bytes);
    expect(full.batches.length).toBe(3);
    // Cuts inside the second batch, inside the third, and inside the footer
    // (all rows intact, but the file is still reported as cut short).
    let previous = -1;
    for (const [frac, maxRows] of [[0.5, 8], [0.8, 8], [0.995, 12]] as const) {
      const cut = Math.floor(bytes.length * frac);
      await fs.writeFile(file, bytes.subarray(0, cut));
      const skips: ShardSkip[] = [];
      const opened = await openShard(file, { expectedRows: 12, onSkip: (s) => skips.push(s) });
      expect(opened.truncated).toBe(true);
      expect(opened.numRows % 4).toBe(0);
      expect(opened.numRows).toBeLessThanOrEqual(maxRows);
      expect(opened.numRows).toBeGreaterThanOrEqual(Math.max(4, previous));
      previous = opened.numRows;
      expect(skips).toEqual([expect.objectContaining({ shard: m.shards[0].file, rows: 12 - opened.numRows })]);
      for (let r = 0; r < opened.numRows; r++) expect(opened.get(r).key).toBe(`k${r}`);
      const streamed: string[] = [];
      const skips2: ShardSkip[] = [];
      for await (const r of readShard(file, { expectedRows: 12, onSkip: (s) => skips2.push(s) })) streamed.push(r.sample.key);
      expect(streamed.length).toBe(opened.numRows);
      // Streaming stops at the end-of-stream marker, so a lost footer costs no rows there.
      if (streamed.length < 12) expect(skips2).toEqual([expect.objectContaining({ shard: m.shards[0].file, rows: 12 - streamed.length })]);
      else expect(skips2).toEqual([]);
      const v = await verifyShards(dir);
      expect(v.ok).toBe(false);
      expect(v.problems[0].file).toBe(m.shards[0].file);
    }
  });

  it("reads shards written by plain apache-arrow (schema only in the footer)", async () => {
    const dir = tmp();
    const t = new A.Table({
      key: A.vectorFromArray(["a", "b"], new A.Utf8()),
      caption: A.vectorFromArray(["x", "y"], new A.Utf8()),
      image: A.vectorFromArray([new Uint8Array([1, 2]), new Uint8Array([3])], new A.Binary()),
      width: A.vectorFromArray([4, 5], new A.Int32()),
      height: A.vectorFromArray([6, 7], new A.Int32()),
    });
    const file = path.join(dir, "plain.arrow");
    await fs.writeFile(file, A.tableToIPC(t, "file"));
    const opened = await openShard(file);
    expect([opened.numRows, opened.truncated, opened.get(1).key, [...opened.get(1).image]]).toEqual([2, false, "b", [3]]);
    const keys: string[] = [];
    for await (const r of readShard(file)) keys.push(r.sample.key);
    expect(keys).toEqual(["a", "b"]);
  });

  it("imageSpan gives where each row's image lies in the file (written, cut short, plain apache-arrow, null images)", async () => {
    const dir = tmp();
    const m = await writeSamples(dir, 12, 12, 4);
    const file = path.join(dir, m.shards[0].file);
    const bytes = await fs.readFile(file);
    const check = async (f: string, rows: number, want: (r: number) => Uint8Array | null) => {
      const opened = await openShard(f);
      const now = await fs.readFile(f);
      expect(opened.numRows).toBe(rows);
      for (let r = 0; r < rows; r++) {
        const span = opened.imageSpan!(r);
        const expected = want(r);
        if (expected === null) {
          expect(span).toBeNull();
          continue;
        }
        expect(span!.file).toBe(path.resolve(f));
        expect(Buffer.from(now.subarray(span!.offset, span!.offset + span!.length)).equals(Buffer.from(expected))).toBe(true);
      }
    };
    await check(file, 12, (r) => sample(r).image);
    // Cut inside the third record batch: the rows before it are read as a stream.
    const cut = path.join(dir, "cut.arrow");
    await fs.writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.8)));
    await check(cut, 8, (r) => sample(r).image);
    const images = [new Uint8Array([1, 2]), null, new Uint8Array(0), new Uint8Array([9, 8, 7])];
    const t = new A.Table({
      key: A.vectorFromArray(["a", "b", "c", "d"], new A.Utf8()),
      caption: A.vectorFromArray(["w", "x", "y", "z"], new A.Utf8()),
      image: A.vectorFromArray(images, new A.Binary()),
    });
    const plain = path.join(dir, "plain.arrow");
    await fs.writeFile(plain, A.tableToIPC(t, "file"));
    await check(plain, 4, (r) => images[r]!);
    // pyarrow's large_binary: 64-bit offsets.
    const large = path.join(dir, "large.arrow");
    const tl = new A.Table({ key: A.vectorFromArray(["a", "b", "c", "d"], new A.Utf8()), image: A.vectorFromArray(images, new A.LargeBinary()) });
    await fs.writeFile(large, A.tableToIPC(tl, "file"));
    await check(large, 4, (r) => images[r]!);
  });

  it("rejects a missing manifest and a bad rows-per-shard with InputError", async () => {
    await expect(listShards(tmp())).rejects.toThrow(/manifest\.json/);
    expect(() => new ShardWriter(tmp(), { rowsPerShard: 0 })).toThrow(/rows-per-shard/);
  });
});
