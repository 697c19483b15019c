// The loader's shard reader worker (formats/shard-reader.ts): the rows of an
// Arrow shard, a local tar and a piped tar, with each image where the decode
// workers will read it (a span of the file) or as bytes when it can only be
// read once (pipe:).
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ShardWriter, type ShardSkip } from "../../src/formats/shards.js";
import { readShardRows, rowImage, textAt, textColumn, type ShardRequest, type ShardRows, type ShardRowsOptions } from "../../src/formats/shard-reader.js";
import { writeTar } from "./fixtures.js";

const work = mkdtempSync(path.join(os.tmpdir(), "clipts-shard-reader-"));
const image = (i: number) => Buffer.alloc(5000 + i * 7, i + 1);
const openShardRows = (req: ShardRequest, opts?: ShardRowsOptions) => readShardRows(req).use(opts);

/** Row i's image bytes, read from its span or taken as given. */
function bytesOf(rows: ShardRows, i: number): Buffer | null {
  const im = rowImage(rows, i);
  if (im === null) return null;
  if (im instanceof Uint8Array) return Buffer.from(im);
  return readFileSync(im.file).subarray(im.offset, im.offset + im.length);
}

describe("readShardRows", () => {
  it("gives an Arrow shard's and a local tar's images as spans of the file, a piped tar's as bytes", async () => {
    const dir = path.join(work, "arrow");
    const w = new ShardWriter(dir, { rowsPerShard: 10, batchRows: 4 });
    await w.start();
    for (let i = 0; i < 10; i++) await w.add({ key: `k${i}`, caption: `c ${i}`, image: image(i), width: 1, height: 1, ...(i % 2 ? { label: i } : {}) });
    const m = await w.finish();
    const tarFile = path.join(work, "00000.tar");
    await writeTar(tarFile, Array.from({ length: 10 }, (_, i) => [{ name: `k${i}.jpg`, data: image(i) }, { name: `k${i}.txt`, data: `c ${i}` }]).flat());
    const arrow = await openShardRows({ kind: "arrow", file: path.join(dir, m.shards[0]!.file), sha256: m.shards[0]!.sha256, expectedRows: 10 });
    const local = await openShardRows({ kind: "tar", name: "00000.tar", source: tarFile });
    const piped = await openShardRows({ kind: "tar", name: "00000.tar", source: `pipe:cat ${tarFile}` });
    expect(Array.isArray(arrow.images)).toBe(false);
    expect(Array.isArray(local.images)).toBe(false);
    expect(Array.isArray(piped.images)).toBe(true);
    for (const rows of [arrow, local, piped]) {
      expect([rows.numRows, rows.truncated]).toEqual([10, false]);
      expect(Array.from({ length: 10 }, (_, i) => textAt(rows.keys, i))).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`));
      expect(Array.from({ length: 10 }, (_, i) => textAt(rows.captions, i))).toEqual(Array.from({ length: 10 }, (_, i) => `c ${i}`));
      for (let i = 0; i < 10; i++) expect(bytesOf(rows, i)!.equals(image(i))).toBe(true);
    }
    expect(Array.from(arrow.labels)).toEqual(Array.from({ length: 10 }, (_, i) => (i % 2 ? i : NaN)));
  });

  it("gives labels from int64 and int32 columns (null: NaN)", async () => {
    const A = await import("apache-arrow");
    const file = path.join(work, "labels.arrow");
    const t = new A.Table({
      key: A.vectorFromArray(["a", "b", "c"], new A.Utf8()),
      caption: A.vectorFromArray(["x", "y", "z"], new A.Utf8()),
      image: A.vectorFromArray([image(0), image(1), image(2)], new A.Binary()),
      label: A.vectorFromArray([7n, null, 3n], new A.Int64()),
    });
    writeFileSync(file, A.tableToIPC(t, "file"));
    const rows = await openShardRows({ kind: "arrow", file });
    expect(Array.from(rows.labels)).toEqual([7, NaN, 3]);
  });

  it("does not keep the process alive for a shard read ahead and never used", () => {
    const tarFile = path.join(work, "00000.tar");
    const script = `import { readShardRows } from ${JSON.stringify(path.resolve("src/formats/shard-reader.ts"))};
      readShardRows({ kind: "tar", name: "slow.tar", source: "pipe:sleep 30; cat ${tarFile}" }, true);
      console.log("asked");`;
    const t0 = Date.now();
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
    expect(out.trim()).toBe("asked");
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it("keeps strings, empty strings and nulls apart in a text column", () => {
    const values = ["a", "", null, "ünïcødé ✓ 🙂", null, "end"];
    const col = textColumn(values);
    expect(values.map((_, i) => textAt(col, i))).toEqual(values);
    expect(textColumn([]).offsets).toEqual(new Float64Array([0]));
  });

  it("reports a shard whose hash differs and gives none of its rows; a missing file is an error naming it", async () => {
    const dir = path.join(work, "hash");
    const w = new ShardWriter(dir, { rowsPerShard: 3 });
    await w.start();
    for (let i = 0; i < 3; i++) await w.add({ key: `k${i}`, caption: "c", image: image(i), width: 1, height: 1 });
    const m = await w.finish();
    const skips: ShardSkip[] = [];
    const rows = await openShardRows({ kind: "arrow", file: path.join(dir, m.shards[0]!.file), sha256: "0".repeat(64), expectedRows: 3 }, { onSkip: (s) => skips.push(s) });
    expect(rows.numRows).toBe(0);
    expect(skips).toEqual([expect.objectContaining({ shard: m.shards[0]!.file, rows: 3, reason: expect.stringMatching(/shard hash mismatch/) })]);
    await expect(openShardRows({ kind: "arrow", file: path.join(dir, "nope.arrow") })).rejects.toThrow(/nope\.arrow/);
  });
});
