// Caption files and the classifier cache: pure I/O, no model.
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import sharp from "sharp";
import { ShardWriter } from "../../src/formats/shards.js";
import { readCaptionJsonl, readCaptionShards } from "../../src/eval/retrieval.js";
import { classifierCacheKey, readCachedClassifier, writeCachedClassifier } from "../../src/eval/text-cache.js";
import { sha256File } from "../../src/util/sha256.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "clipts-inputs-"));

describe("caption JSONL", () => {
  it("merges repeated images, keeps caption order, skips and counts bad rows with line numbers", async () => {
    const file = path.join(dir, "caps.jsonl");
    writeFileSync(
      file,
      [
        JSON.stringify({ image: "a.jpg", captions: ["a red square", "a square, red"] }),
        "{not json",
        JSON.stringify({ image: "b.jpg", caption: "a blue circle" }),
        JSON.stringify({ image: "", captions: ["x"] }),
        JSON.stringify({ image: "c.jpg", captions: ["", 3] }),
        JSON.stringify({ image: "a.jpg", captions: ["red square again"] }),
      ].join("\n") + "\n",
    );
    const s = await readCaptionJsonl(file);
    expect(s.imageKeys).toEqual(["a.jpg", "b.jpg"]);
    expect(s.captions).toEqual(["a red square", "a square, red", "a blue circle", "red square again"]);
    expect(s.textImage).toEqual([0, 0, 1, 0]);
    expect(s.badRows.count).toBe(3);
    expect(s.badRows.byReason).toEqual({ "invalid-json": 1, "no-image": 1, "no-caption": 1 });
    expect(s.badRows.examples.map((e) => e.index)).toEqual([2, 4, 5]);
    const thunks = [...(s.images() as Iterable<() => Promise<Uint8Array>>)];
    expect(thunks).toHaveLength(2);
    await expect(thunks[0]()).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("limit keeps the first N images; a file with no usable row is an error", async () => {
    const file = path.join(dir, "caps2.jsonl");
    writeFileSync(file, ["x", "y", "z"].map((k) => JSON.stringify({ image: k, captions: [k] })).join("\n"));
    expect((await readCaptionJsonl(file, { limit: 2 })).captions).toEqual(["x", "y"]);
    writeFileSync(path.join(dir, "bad.jsonl"), "nope\n");
    await expect(readCaptionJsonl(path.join(dir, "bad.jsonl"))).rejects.toThrow(/bad\.jsonl: no usable rows \(1 bad rows\)/);
  });
});

describe("caption shards", () => {
  it("rows with the same key are captions of one image; images stream once each, in order", async () => {
    const sdir = path.join(dir, "shards");
    const w = new ShardWriter(sdir, { rowsPerShard: 3, batchRows: 2 });
    await w.start();
    const png = async (r: number) => new Uint8Array(await sharp({ create: { width: 4, height: 4, channels: 3, background: { r, g: 0, b: 0 } } }).png().toBuffer());
    const img = [await png(10), await png(20), await png(30)];
    const rows: [string, string, number][] = [["a", "cap a1", 0], ["b", "cap b1", 1], ["a", "cap a2", 0], ["c", "", 2], ["c", "cap c1", 2], ["b", "cap b2", 1]];
    for (const [key, caption, i] of rows) await w.add({ key, caption, image: img[i], width: 4, height: 4 });
    await w.finish();
    const s = await readCaptionShards(sdir);
    expect(s.imageKeys).toEqual(["a", "b", "c"]);
    expect(s.captions).toEqual(["cap a1", "cap b1", "cap a2", "cap c1", "cap b2"]);
    expect(s.textImage).toEqual([0, 1, 0, 2, 1]);
    expect(s.badRows.byReason).toEqual({ "no-caption": 1 });
    const bytes: Uint8Array[] = [];
    for await (const t of s.images() as AsyncIterable<() => Promise<Uint8Array>>) bytes.push(await t());
    expect(bytes.map((b) => Buffer.from(b).equals(Buffer.from(img[bytes.indexOf(b)])))).toEqual([true, true, true]);
    // limit: the first two images only.
    const l = await readCaptionShards(sdir, { limit: 2 });
    expect(l.imageKeys).toEqual(["a", "b"]);
    expect(l.captions).toEqual(["cap a1", "cap b1", "cap a2", "cap b2"]);
  });
});

describe("classifier cache", () => {
  const parts = { weightsHash: "abc", classnames: ["cat", "dog"], templates: ["a {}."], contextLength: 77, embedDim: 3 };

  it("key changes with every input", () => {
    const k = classifierCacheKey(parts);
    expect(classifierCacheKey({ ...parts })).toBe(k);
    expect(classifierCacheKey({ ...parts, weightsHash: "abd" })).not.toBe(k);
    expect(classifierCacheKey({ ...parts, classnames: ["dog", "cat"] })).not.toBe(k);
    expect(classifierCacheKey({ ...parts, templates: ["a {}!"] })).not.toBe(k);
    expect(classifierCacheKey({ ...parts, contextLength: 64 })).not.toBe(k);
  });

  it("round-trips float32 weights; wrong shape or a torn file reads as a miss", async () => {
    const cdir = path.join(dir, "cache");
    const w = Float32Array.from([0.1, -0.2, 0.3, 1e-8, 5, -6]);
    const file = await writeCachedClassifier(cdir, "k1", w, 2, 3);
    expect(readdirSync(cdir)).toEqual(["k1.f32"]);
    expect(await readCachedClassifier(cdir, "k1", 2, 3)).toEqual(w);
    expect(await readCachedClassifier(cdir, "k1", 3, 2)).toBeNull();
    expect(await readCachedClassifier(cdir, "missing", 2, 3)).toBeNull();
    writeFileSync(file, Buffer.alloc(12 + 20));
    expect(await readCachedClassifier(cdir, "k1", 2, 3)).toBeNull();
  });

  it("sha256File hashes content", async () => {
    const f = path.join(dir, "h.txt");
    writeFileSync(f, "abc");
    expect(await sha256File(f)).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
