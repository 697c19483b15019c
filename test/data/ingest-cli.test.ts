import { describe, expect, it, vi } from "vitest";
import { promises as fs } from "node:fs";
import path from "node:path";
import yargs from "yargs";
import { dataCommand } from "../../src/cli/data.js";
import { makeImage, tmpDir, writeFile } from "./fixtures.js";
import { readBack } from "./readback.js";

/** Parse argv with the same `data` command module the CLI registers. */
async function run(argv: string[]): Promise<void> {
  await yargs(argv).command(dataCommand).strict().fail((msg, err) => {
    throw err ?? new Error(msg);
  }).parseAsync();
}

describe("clipts data ingest / verify (command wiring)", () => {
  it("passes options through to ingest and verify", async () => {
    const root = tmpDir();
    for (let i = 0; i < 3; i++) await writeFile(path.join(root, "img", `${i}.png`), await makeImage("png", 5, 5, i));
    await writeFile(path.join(root, "t.csv"), "name,file,words,cls\n" + [0, 1, 2].map((i) => `n${i},img/${i}.png,words ${i},${i}`).join("\n"));
    const out = path.join(root, "out");
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      await run(["data", "ingest", "-i", path.join(root, "t.csv"), "-o", out, "--rows-per-shard", "2", "--key-column", "name", "--image-column", "file", "--caption-column", "words", "--label-column", "cls", "--quiet"]);
      const rb = await readBack(out);
      expect(rb.shardRows).toEqual([2, 1]);
      expect(rb.rows.map((r) => [r.key, r.caption, r.label])).toEqual([["n0", "words 0", 0], ["n1", "words 1", 1], ["n2", "words 2", 2]]);
      await run(["data", "verify", out]);
      expect(log.mock.calls.flat().join("\n")).toMatch(/ok: 2 shards, 3 rows/);
      // A changed byte is caught by the hash check.
      const f = path.join(out, rb.manifest.shards[0].file);
      const bytes = await fs.readFile(f);
      bytes[100] ^= 1;
      await fs.writeFile(f, bytes);
      await expect(run(["data", "verify", out])).rejects.toThrow(/shard-000000\.arrow: sha256/);
    } finally {
      log.mockRestore();
    }
  });
});
