import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { readLineBatches } from "../../src/curation/lines.js";
import { Rng } from "../../src/util/hash.js";

const dir = mkdtempSync(path.join(tmpdir(), "clipts-lines-"));

async function collect(file: string, shard?: { index: number; count: number }, chunkBytes?: number) {
  const out: { lines: string[]; bad: string[] } = { lines: [], bad: [] };
  for await (const b of readLineBatches(file, { shard, batchLines: 3, chunkBytes })) {
    b.lines.forEach((l, i) => {
      out.lines.push(l);
      if (b.badUtf8.includes(i)) out.bad.push(l);
    });
  }
  return out.lines;
}

describe("line reading with byte-range shards", () => {
  it("covers every line exactly once for any shard count", async () => {
    const rng = new Rng(9);
    for (let trial = 0; trial < 8; trial++) {
      const lines = Array.from({ length: 1 + rng.int(60) }, (_, i) => `${i}:` + "x".repeat(rng.int(trial % 2 ? 300 : 20)));
      const trailing = trial % 3 !== 0;
      const file = path.join(dir, `f${trial}.txt`);
      writeFileSync(file, lines.join("\n") + (trailing ? "\n" : ""));
      expect(await collect(file)).toEqual(lines);
      // Small read chunks exercise lines that straddle chunk and shard boundaries.
      for (const chunk of [undefined, 7, 64]) {
        for (const n of [1, 2, 3, 7, 50, 200]) {
          const parts: string[] = [];
          for (let i = 0; i < n; i++) parts.push(...(await collect(file, { index: i, count: n }, chunk)));
          expect(parts).toEqual(lines);
        }
      }
    }
  });

  it("flags invalid UTF-8 lines only, keeps blank lines and CR", async () => {
    const file = path.join(dir, "mixed.txt");
    writeFileSync(file, Buffer.concat([Buffer.from("ok é\r\n\nbad "), Buffer.from([0xff, 0xfe]), Buffer.from("\nlast")]));
    const got: { l: string; bad: boolean }[] = [];
    for await (const b of readLineBatches(file, { chunkBytes: 5 })) b.lines.forEach((l, i) => got.push({ l, bad: b.badUtf8.includes(i) }));
    expect(got.map((g) => g.bad)).toEqual([false, false, true, false]);
    expect(got[0]!.l).toBe("ok é\r");
    expect(got[3]!.l).toBe("last");
  });

  it("names a missing file", async () => {
    await expect(collect(path.join(dir, "nope.jsonl"))).rejects.toThrow(/nope.jsonl: cannot read \(ENOENT\)/);
  });
});
