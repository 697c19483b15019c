import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { ingest } from "../../src/data/ingest.js";
import { verifyShards } from "../../src/formats/shards.js";
import { InputError } from "../../src/util/errors.js";
import { makeBombPng, makeImage, tmpDir, writeFile, writeParquet, writeTar } from "./fixtures.js";
import { readBack, skippedByKey } from "./readback.js";

/** A noisy PNG with one byte of its pixel data flipped: the IDAT checksum fails. */
async function corruptPng(): Promise<Buffer> {
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, noise: { type: "gaussian", mean: 128, sigma: 40 } } }).png().toBuffer();
  const idat = png.indexOf("IDAT");
  const bad = Buffer.from(png);
  bad[idat + 100] ^= 0xff;
  return bad;
}

describe("ingest: bad samples are skipped and counted with key and reason", () => {
  it("JSONL: truncated, corrupt, empty, non-image, bomb, SVG, missing caption/path/file, invalid UTF-8 and JSON", async () => {
    const root = tmpDir();
    const good = await makeImage("jpeg", 20, 20, 1);
    const noisy = await sharp({ create: { width: 80, height: 60, channels: 3, noise: { type: "gaussian", mean: 128, sigma: 40 } } }).jpeg().toBuffer();
    const files: Record<string, Buffer | string> = {
      "good.jpg": good,
      "trunc.jpg": noisy.subarray(0, Math.floor(noisy.length / 2)),
      "corrupt.png": await corruptPng(),
      "zero.jpg": Buffer.alloc(0),
      "text.png": "this is not an image\n",
      "bomb.png": makeBombPng(20000, 20000),
      "vector.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
    };
    for (const [name, data] of Object.entries(files)) await writeFile(path.join(root, name), data);
    const row = (o: object) => Buffer.from(JSON.stringify(o) + "\n");
    const lines = [
      row({ key: "good", image: "good.jpg", caption: "fine" }),
      row({ key: "trunc", image: "trunc.jpg", caption: "c" }),
      row({ key: "corrupt", image: "corrupt.png", caption: "c" }),
      row({ key: "zero", image: "zero.jpg", caption: "c" }),
      row({ key: "text", image: "text.png", caption: "c" }),
      row({ key: "bomb", image: "bomb.png", caption: "c" }),
      row({ key: "svg", image: "vector.svg", caption: "c" }),
      row({ key: "nullcap", image: "good.jpg", caption: null }),
      row({ key: "blankcap", image: "good.jpg", caption: "   " }),
      row({ key: "nocap", image: "good.jpg" }),
      Buffer.concat([Buffer.from('{"key": "badutf8", "image": "good.jpg", "caption": "caf'), Buffer.from([0xe9, 0x20, 0xff]), Buffer.from('"}\n')]),
      row({ key: "nopath", caption: "c" }),
      row({ key: "gone", image: "missing/nothere.jpg", caption: "c" }),
      Buffer.from("{not json\n"),
      row({ key: "good2", image: "good.jpg", caption: "fine again", label: 3 }),
      row({ key: "badlabel", image: "good.jpg", caption: "c", label: "cat" }),
      row({ key: "good", image: "good.jpg", caption: "the same key again" }),
    ];
    await writeFile(path.join(root, "bad.jsonl"), Buffer.concat(lines));
    const out = tmpDir();
    const { manifest } = await ingest({ input: path.join(root, "bad.jsonl"), output: out, rowsPerShard: 1, quiet: true });
    const rb = await readBack(out);
    expect(rb.rows.map((r) => r.key)).toEqual(["good", "good2"]);
    expect(rb.byKey.get("good")!.image.equals(good)).toBe(true);
    const why = skippedByKey(manifest);
    const expected: Record<string, RegExp> = {
      trunc: /^corrupt image/,
      corrupt: /^corrupt image/,
      zero: /^empty image file/,
      text: /^not a readable image/,
      bomb: /^too many pixels \(20000x20000 > 89478485/,
      svg: /^unsupported image format: svg/,
      nullcap: /^missing caption$/,
      blankcap: /^missing caption$/,
      nocap: /^missing caption$/,
      badutf8: /^invalid UTF-8 caption$/,
      nopath: /^missing image path$/,
      gone: /^image not found: .*nothere\.jpg$/,
      "bad.jsonl:14": /^invalid JSON line$/,
      badlabel: /^invalid label: "cat"$/,
    };
    // The repeated key "good" is skipped too (listed twice would collide in the map above).
    expect(manifest.skipped.items.filter((it: { key: string }) => it.key === "good").map((it: { reason: string }) => it.reason)).toEqual(["duplicate key"]);
    expect([...why.keys()].sort()).toEqual([...Object.keys(expected), "good"].sort());
    for (const [key, re] of Object.entries(expected)) expect(why.get(key)).toMatch(re);
    expect(manifest.skipped.count).toBe(15);
    expect(manifest.skipped.keys.sort()).toEqual([...Object.keys(expected), "good"].sort());
    expect(manifest.skipped.byReason).toEqual({
      "corrupt image": 2,
      "empty image file": 1,
      "not a readable image": 1,
      "too many pixels": 1,
      "unsupported image format": 1,
      "missing caption": 3,
      "invalid UTF-8 caption": 1,
      "missing image path": 1,
      "image not found": 1,
      "invalid JSON line": 1,
      "invalid label": 1,
      "duplicate key": 1,
    });
    // Per shard counts add up to the run's.
    const perShard = manifest.shards.reduce((s: number, x: { skipped?: { count: number } }) => s + (x.skipped?.count ?? 0), 0);
    expect(perShard).toBe(15);
  });

  it("repeated keys are skipped within the duplicate window and kept beyond it (bounded memory)", async () => {
    const root = tmpDir();
    await writeFile(path.join(root, "a.png"), await makeImage("png", 4, 4, 1));
    const line = (k: string) => JSON.stringify({ key: k, image: "a.png", caption: `c ${k}` });
    await writeFile(path.join(root, "t.jsonl"), ["a", "a", "b", "c", "a"].map(line).join("\n") + "\n");
    // Window 2 (= the output shard): written a, b | c, a -> the second "a" (same shard) is skipped, the third (next shard) kept.
    const { manifest } = await ingest({ input: path.join(root, "t.jsonl"), output: tmpDir(), rowsPerShard: 2, duplicateWindow: 2, quiet: true });
    expect(manifest.rows).toBe(4);
    expect(manifest.skipped.byReason).toEqual({ "duplicate key": 1 });
    // The default window (>= 65536 rows) catches every repeat of a small pool.
    const all = await ingest({ input: path.join(root, "t.jsonl"), output: tmpDir(), rowsPerShard: 2, quiet: true });
    expect(all.manifest.rows).toBe(3);
    expect(all.manifest.skipped.byReason).toEqual({ "duplicate key": 2 });
    await expect(ingest({ input: path.join(root, "t.jsonl"), output: tmpDir(), duplicateWindow: 0, quiet: true })).rejects.toThrow(/duplicateWindow/);
  });

  it("an input where every sample is bad gives an empty, valid manifest", async () => {
    const root = tmpDir();
    await writeFile(path.join(root, "t.jsonl"), '{"key":"a","image":"none.png","caption":"x"}\n');
    const out = tmpDir();
    const { manifest } = await ingest({ input: path.join(root, "t.jsonl"), output: out, quiet: true });
    expect([manifest.rows, manifest.shards.length, manifest.skipped.count]).toEqual([0, 0, 1]);
    expect(manifest.skipped.items![0]).toEqual({ key: "a", reason: expect.stringMatching(/^image not found/) });
    expect(await verifyShards(out)).toMatchObject({ ok: true, rows: 0 });
  });

  it("the pixel cap is configurable", async () => {
    const root = tmpDir();
    await writeFile(path.join(root, "a.png"), await makeImage("png", 20, 10));
    await writeFile(path.join(root, "b.png"), await makeImage("png", 10, 5));
    await writeFile(path.join(root, "t.jsonl"), ['{"key":"a","image":"a.png","caption":"x"}', '{"key":"b","image":"b.png","caption":"y"}'].join("\n"));
    const out = tmpDir();
    const { manifest } = await ingest({ input: path.join(root, "t.jsonl"), output: out, maxPixels: 199, quiet: true });
    expect(manifest.rows).toBe(1);
    expect(skippedByKey(manifest).get("a")).toMatch(/^too many pixels \(20x10 > 199/);
  });

  it("webdataset: missing caption/image, invalid UTF-8 txt, bad json, non-image member, a tar cut mid-member, a garbage tar", async () => {
    const root = tmpDir();
    const img = (i: number) => makeImage("jpeg", 16, 16, i);
    const before = [
      { name: "a.jpg", data: await img(0) },
      { name: "a.txt", data: "caption a" },
      { name: "b.jpg", data: await img(1) }, // no caption anywhere
      { name: "c.jpg", data: await img(2) },
      { name: "c.txt", data: Buffer.from([0x63, 0xff, 0xfe]) },
      { name: "d.txt", data: "caption without image" },
      { name: "e.jpg", data: Buffer.from("definitely not a jpeg") },
      { name: "e.txt", data: "caption e" },
      { name: "f.jpg", data: await img(3) },
      { name: "f.txt", data: "caption f" },
      { name: "f.json", data: "{broken" },
      { name: "g.png", data: await makeImage("png", 9, 8, 4) },
      { name: "g.txt", data: "caption g" },
      { name: "g.cls", data: "7\n" },
    ];
    const h = await sharp({ create: { width: 64, height: 64, channels: 3, noise: { type: "gaussian", mean: 128, sigma: 40 } } }).jpeg().toBuffer();
    const head = await writeTar(path.join(root, "tmp", "head.tar"), before);
    const full = await writeTar(path.join(root, "tmp", "full.tar"), [...before, { name: "h.txt", data: "caption h" }, { name: "h.jpg", data: h }]);
    // tar-stream ends an archive with two zero blocks; h.txt's header and data
    // block follow the head's members, then h.jpg's header, then its data.
    const hJpgData = head.length - 1024 + 512 + 512 + 512;
    await writeTar(path.join(root, "in", "00000.tar"), []); // an empty tar: no samples, no error
    await writeFile(path.join(root, "in", "00001.tar"), full.subarray(0, hJpgData + Math.floor(h.length / 2)));
    await writeFile(path.join(root, "in", "00002.tar"), Buffer.alloc(3000, 0x41));
    const out = tmpDir();
    const { manifest } = await ingest({ input: path.join(root, "in"), output: out, rowsPerShard: 2, quiet: true });
    const rb = await readBack(out);
    expect(rb.rows.map((r) => r.key)).toEqual(["a", "g"]);
    expect(rb.byKey.get("g")!.label).toBe(7);
    const why = skippedByKey(manifest);
    expect(Object.fromEntries(why)).toEqual({
      b: "missing caption",
      c: "invalid UTF-8 caption",
      d: expect.stringMatching(/^missing image \(members: txt\)$/),
      e: expect.stringMatching(/^not a readable image/),
      f: "invalid JSON in KEY.json",
      h: expect.stringMatching(/^truncated tar member: h\.jpg in 00001\.tar/),
      "00002.tar#end": expect.stringMatching(/^broken tar: 00002\.tar/),
    });
  });

  it("CSV and parquet: invalid UTF-8 captions, short rows, missing image files", async () => {
    const root = tmpDir();
    await writeFile(path.join(root, "ok.png"), await makeImage("png", 6, 6));
    const csv = Buffer.concat([
      Buffer.from("key,image,caption\nk1,ok.png,fine\nk2,ok.png,"),
      Buffer.from([0xc3, 0x28]),
      Buffer.from("\nk3,ok.png\nk4,nope.png,gone\nk5,,no path\n"),
    ]);
    await writeFile(path.join(root, "t.csv"), csv);
    const out = tmpDir();
    const { manifest } = await ingest({ input: path.join(root, "t.csv"), output: out, quiet: true });
    expect((await readBack(out)).rows.map((r) => r.key)).toEqual(["k1"]);
    expect(Object.fromEntries(skippedByKey(manifest))).toEqual({
      k2: "invalid UTF-8 caption",
      k3: "bad CSV row: 2 fields, header has 3",
      k4: expect.stringMatching(/^image not found: .*nope\.png$/),
      k5: "missing image path",
    });
    await writeParquet(path.join(root, "t.parquet"), [
      { name: "key", data: ["p1", "p2", "p3"], type: "STRING" },
      { name: "image", data: ["ok.png", "ok.png", "ok.png"], type: "STRING" },
      { name: "caption", data: [Buffer.from("fine"), Buffer.from([0x66, 0xff]), null], type: "STRING" },
    ]);
    const out2 = tmpDir();
    const r2 = await ingest({ input: path.join(root, "t.parquet"), output: out2, quiet: true });
    expect((await readBack(out2)).rows.map((r) => [r.key, r.caption])).toEqual([["p1", "fine"]]);
    expect(Object.fromEntries(skippedByKey(r2.manifest))).toEqual({ p2: "invalid UTF-8 caption", p3: "missing caption" });
  });
});

describe("ingest: structural errors throw InputError naming the file, before any output", () => {
  it("missing input, unknown format, unreadable parquet, missing columns, bad options, images at the folder top", async () => {
    const root = tmpDir();
    const out = path.join(root, "out");
    const fails = async (opts: Parameters<typeof ingest>[0], re: RegExp) => {
      const err = await ingest({ quiet: true, ...opts }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(re);
      expect(existsSync(path.join(opts.output, "manifest.json"))).toBe(false);
    };
    await fails({ input: path.join(root, "nothing.jsonl"), output: out }, /nothing\.jsonl: input not found/);
    await writeFile(path.join(root, "x.xyz"), "?");
    await fails({ input: path.join(root, "x.xyz"), output: out }, /x\.xyz: unknown input format/);
    await writeFile(path.join(root, "bad.parquet"), Buffer.alloc(100, 7));
    await fails({ input: path.join(root, "bad.parquet"), output: out }, /bad\.parquet: unreadable parquet schema/);
    await writeFile(path.join(root, "t.csv"), "key,path,words\nk,a.png,x\n");
    await fails({ input: path.join(root, "t.csv"), output: out }, /t\.csv: no caption column/);
    await fails({ input: path.join(root, "t.csv"), output: out, columns: { caption: "title" } }, /t\.csv: no column "title" \(--caption-column\)/);
    await fails({ input: path.join(root, "t.csv"), output: out, rowsPerShard: 0 }, /--rows-per-shard/);
    await fails({ input: path.join(root, "t.csv"), output: out, format: "tsv" as never }, /--format: unknown format "tsv"/);
    await writeFile(path.join(root, "flat", "a.png"), await makeImage("png", 4, 4));
    await fails({ input: path.join(root, "flat"), output: out }, /flat: images directly in the folder/);
    // A tar folder whose parquet beside is unreadable.
    await writeTar(path.join(root, "w", "0.tar"), [{ name: "a.txt", data: "x" }]);
    await writeFile(path.join(root, "w", "0.parquet"), "not parquet at all");
    await fails({ input: path.join(root, "w"), output: out }, /0\.parquet: unreadable parquet schema/);
  });
});
