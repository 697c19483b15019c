import { describe, it, expect } from "vitest";
import "@tensorflow/tfjs-backend-cpu";
import { mkdtempSync, writeFileSync, truncateSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Loader, type LoaderOptions } from "../../src/data/loader.js";
import { listShards } from "../../src/formats/shards.js";
import { openSelection, writeSelection, convertSelection, mergeSelections, ShardSelection, SelectionWriter } from "../../src/formats/selection.js";
import { InputError } from "../../src/util/errors.js";
import { goodShards, charTokenize } from "./loader-fixtures.js";

const CTX = 12;
const tmp = () => mkdtempSync(path.join(tmpdir(), "clipts-sel-"));
const base = (dir: string, o: Partial<LoaderOptions> = {}): LoaderOptions => ({
  dir, batchSize: 3, tokenize: charTokenize(CTX), contextLength: CTX, imageSize: 8, workers: 1, ...o,
});

async function keysOf(loader: Loader, maxBatches = 40): Promise<string[]> {
  const out: string[] = [];
  let n = 0;
  for await (const b of loader) {
    out.push(...b.keys);
    b.images.dispose();
    b.tokens.dispose();
    if (++n >= maxBatches) break;
  }
  return out;
}

describe("selection folder", () => {
  it("round-trips rows per shard: sorted, distinct, shards without rows left out", async () => {
    const dir = tmp();
    await writeSelection(dir, { "b.arrow": [7, 3, 3, 0, 4294967295], "a.arrow": [2], "c.arrow": [] });
    const sel = openSelection(dir);
    expect(sel).toBeInstanceOf(ShardSelection);
    const s = sel as ShardSelection;
    expect(s.shards().sort()).toEqual(["a.arrow", "b.arrow"]);
    expect([...s.rows("b.arrow")]).toEqual([0, 3, 7, 4294967295]);
    expect([...s.rows("a.arrow")]).toEqual([2]);
    expect([...s.rows("c.arrow")]).toEqual([]);
    expect(s.total()).toBe(5);
    expect(s.lastRow("b.arrow")).toBe(4294967295);
    // The index file itself and a parent folder holding `selection/` open the same selection.
    expect([...(openSelection(path.join(dir, "index.json")) as ShardSelection).rows("b.arrow")]).toEqual([0, 3, 7, 4294967295]);
    await expect(new SelectionWriter(tmp()).add("x", [1.5])).rejects.toThrow(/bad row id 1.5/);
  });

  it("merges job-array tasks' folders into one; a shard in two inputs is refused", async () => {
    const a = await writeSelection(tmp(), { "s0.arrow": [5, 1], "s2.arrow": [0] });
    const b = await writeSelection(tmp(), { "s1.arrow": [3] });
    const m = await mergeSelections([a, b], path.join(tmp(), "all"));
    expect(m.toRecord()).toEqual({ "s0.arrow": [1, 5], "s2.arrow": [0], "s1.arrow": [3] });
    await expect(mergeSelections([a, a], path.join(tmp(), "dup"))).rejects.toThrow(/shard s0.arrow is also in an earlier input/);
  });

  it("the loader keeps the same rows in the same order as a key selection of those rows (train mode, shuffled, 2 epochs)", async () => {
    const pool = await goodShards(3, 7);
    const m = await listShards(pool);
    const picks: Record<string, number[]> = { [m.shards[0]!.file]: [6, 1, 4], [m.shards[2]!.file]: [0, 2, 3, 5] };
    const keys = new Set<string>([...[6, 1, 4].map((r) => `s0-${r}`), ...[0, 2, 3, 5].map((r) => `s2-${r}`)]);
    const selDir = await writeSelection(tmp(), picks);
    const opts = { mode: "train" as const, seed: 11, shuffleBuffer: 4, epochs: 2 };
    const byKeys = await keysOf(new Loader(base(pool, { ...opts, selection: keys })));
    const byFolder = await keysOf(new Loader(base(pool, { ...opts, selection: openSelection(selDir) })));
    const byOldJson = path.join(tmp(), "selection.json");
    writeFileSync(byOldJson, JSON.stringify(picks));
    const byJson = await keysOf(new Loader(base(pool, { ...opts, selection: openSelection(byOldJson) })));
    expect(byKeys.length).toBe(12); // 7 rows x 2 epochs, last partial batch of each epoch dropped
    expect(byFolder).toEqual(byKeys);
    expect(byJson).toEqual(byKeys);
    // A converted old selection is the same selection.
    const conv = await convertSelection(byOldJson, path.join(tmp(), "sel"));
    expect(await keysOf(new Loader(base(pool, { ...opts, selection: conv })))).toEqual(byKeys);
  });

  it("refuses bad inputs naming the file, before any work", async () => {
    const pool = await goodShards(1, 4);
    const m = await listShards(pool);
    const file = m.shards[0]!.file;
    const past = await writeSelection(tmp(), { [file]: [1, 4] });
    await expect(keysOf(new Loader(base(pool, { mode: "eval", selection: openSelection(past) })))).rejects.toThrow(new RegExp(`${file}: row 4 is past the shard's end \\(4 rows\\)`));
    const foreign = await writeSelection(tmp(), { "other.arrow": [0] });
    await expect(keysOf(new Loader(base(pool, { mode: "eval", selection: openSelection(foreign) })))).rejects.toThrow(/shard other.arrow is not in the pool's manifest/);

    const trunc = await writeSelection(tmp(), { [file]: [0, 1, 2] });
    truncateSync(path.join(trunc, "rows-000000.u32"), 6);
    expect(() => openSelection(trunc)).toThrow(/rows-000000.u32: 6 bytes, index says 3 rows/);
    const badIndex = await writeSelection(tmp(), { [file]: [0] });
    writeFileSync(path.join(badIndex, "index.json"), readFileSync(path.join(badIndex, "index.json"), "utf8").slice(0, 20));
    expect(() => openSelection(badIndex)).toThrow(new RegExp(`${badIndex}/index.json: not JSON`));
    const unsorted = await writeSelection(tmp(), { [file]: [0, 1] });
    writeFileSync(path.join(unsorted, "rows-000000.u32"), Buffer.from(new Uint32Array([1, 0]).buffer));
    expect(() => (openSelection(unsorted) as ShardSelection).rows(file)).toThrow(/rows-000000.u32: row ids not sorted/);
    const foreignIndex = tmp();
    writeFileSync(path.join(foreignIndex, "index.json"), JSON.stringify({ format: "something-else", shards: [] }));
    expect(() => openSelection(foreignIndex)).toThrow(/not a clipts selection index/);

    const kept = path.join(tmp(), "kept.jsonl");
    writeFileSync(kept, '{"text":"a"}\n');
    expect(() => openSelection(kept, "data.selection")).toThrow(InputError);
    expect(() => openSelection(kept, "data.selection")).toThrow(/kept.jsonl.*is not a selection; give the selection folder beside it/);
    expect(() => openSelection(path.join(tmp(), "missing"))).toThrow(/missing does not exist/);
    const bad = path.join(tmp(), "selection.json");
    writeFileSync(bad, '{"a.arrow": [1, 2');
    expect(() => openSelection(bad)).toThrow(/selection.json: not JSON/);
    expect(() => openSelection(tmp())).toThrow(/a folder without index.json/);
  });
});
