import { describe, expect, it } from "vitest";
import { promises as fs } from "node:fs";
import path from "node:path";
import * as A from "apache-arrow";
import { parquetMetadata } from "hyparquet";
import { ingest } from "../../src/data/ingest.js";
import { verifyShards } from "../../src/formats/shards.js";
import { readWds } from "../../src/formats/input/wds.js";
import { makeImage, tmpDir, writeFile, writeParquet, writeTar, type ImageKind } from "./fixtures.js";
import { readBack } from "./readback.js";

describe("ingest round trips", () => {
  it("webdataset tars with .parquet beside: keys, captions, bytes, sizes, json + parquet metadata", async () => {
    const root = tmpDir();
    const kinds: [ImageKind, string][] = [["jpeg", "jpg"], ["png", "png"], ["webp", "webp"]];
    const expected = new Map<string, { caption: string; image: Buffer; w: number; h: number; url: string; score: number }>();
    for (let t = 0; t < 2; t++) {
      const members: { name: string; data: Buffer | string }[] = [];
      const keys: string[] = [];
      for (let j = 0; j < 4; j++) {
        const n = t * 4 + j;
        const key = String(n).padStart(9, "0");
        const [kind, ext] = kinds[n % 3];
        const w = 20 + n;
        const h = 12 + 2 * n;
        const image = await makeImage(kind, w, h, n);
        const caption = `a photo number ${n}, café ✓`;
        const url = `http://example.com/${n}.${ext}`;
        members.push({ name: `${key}.${ext}`, data: image }, { name: `${key}.txt`, data: caption });
        members.push({ name: `${key}.json`, data: JSON.stringify({ key, url, status: "success", caption, width: 999, height: 999, exif: { Make: "x" } }) });
        expected.set(key, { caption, image, w, h, url, score: n / 10 });
        keys.push(key);
      }
      await writeTar(path.join(root, `0000${t}.tar`), members);
      // img2dataset's parquet lists every URL tried, failed ones too.
      await writeParquet(path.join(root, `0000${t}.parquet`), [
        { name: "key", data: [...keys, `x${t}`], type: "STRING" },
        { name: "status", data: [...keys.map(() => "success"), "failed_to_download"], type: "STRING" },
        { name: "aesthetic", data: [...keys.map((k) => expected.get(k)!.score), null], type: "DOUBLE" },
      ]);
    }
    // Progress total: the parquet rows with status "success" (not the failed ones).
    expect((await readWds(root)).total).toBe(8);
    const out = path.join(root, "out");
    const { manifest } = await ingest({ input: root, output: out, rowsPerShard: 3, quiet: true });
    expect(manifest.source?.inputs).toEqual([expect.objectContaining({ format: "wds" })]);
    const rb = await readBack(out);
    expect(rb.shardRows).toEqual([3, 3, 2]);
    expect(rb.rows.map((r) => r.key)).toEqual([...expected.keys()]);
    for (const [key, e] of expected) {
      const r = rb.byKey.get(key)!;
      expect(r.caption).toBe(e.caption);
      expect(r.image.equals(e.image)).toBe(true);
      expect([r.width, r.height]).toEqual([e.w, e.h]); // from the bytes, not json's 999
      expect(r.url).toBe(e.url);
      expect(r.status).toBe("success");
      expect(r.aesthetic).toBeCloseTo(e.score, 12);
      expect(JSON.parse(r.exif as string)).toEqual({ Make: "x" });
    }
    expect(manifest.extraColumns).toMatchObject({ aesthetic: "float64", url: "utf8", exif: "utf8" });
    expect(manifest.skipped.count).toBe(0);
    expect((await verifyShards(out)).ok).toBe(true);
  });

  it("class folders (split/class/file): labels index sorted classes, EXIF-rotated size, odd colour formats", async () => {
    const root = tmpDir();
    const layout: [string, string, string, ImageKind, number, number][] = [
      ["train", "zebra_fish", "z1.png", "gray-png", 16, 10],
      ["train", "cat", "c1.jpg", "jpeg", 30, 20],
      ["train", "cat", "c2.png", "alpha-png", 11, 13],
      ["train", "dog", "d1.jpg", "cmyk-jpeg", 25, 15],
      ["val", "dog", "d2.png", "png16", 9, 7],
      ["val", "cat", "c3.jpg", "exif6-jpeg", 40, 24],
      ["val", "ant", "a1.webp", "webp", 8, 8],
    ];
    const images = new Map<string, Buffer>();
    for (const [i, [split, cls, file, kind, w, h]] of layout.entries()) {
      const img = await makeImage(kind, w, h, i);
      images.set(`${split}/${cls}/${file.replace(/\.\w+$/, "")}`, img);
      await writeFile(path.join(root, split, cls, file), img);
    }
    await writeFile(path.join(root, "train", "cat", "c1.txt"), "a tabby cat on a sofa\n");
    const out = tmpDir();
    const { manifest } = await ingest({ input: root, output: out, rowsPerShard: 4, quiet: true });
    expect(manifest.classes).toEqual(["ant", "cat", "dog", "zebra_fish"]);
    const rb = await readBack(out);
    expect(rb.shardRows).toEqual([4, 3]);
    expect(rb.rows.map((r) => r.key)).toEqual(["train/cat/c1", "train/cat/c2", "train/dog/d1", "train/zebra_fish/z1", "val/ant/a1", "val/cat/c3", "val/dog/d2"]);
    for (const [i, [split, cls, file, , w, h]] of layout.entries()) {
      const key = `${split}/${cls}/${file.replace(/\.\w+$/, "")}`;
      const r = rb.byKey.get(key)!;
      expect(r.image.equals(images.get(key)!)).toBe(true);
      expect(r.label).toBe(manifest.classes!.indexOf(cls));
      expect(r.split).toBe(split);
      expect(r.class_name).toBe(cls);
      // Orientation 6 displays the stored image rotated: height x width.
      expect([r.width, r.height]).toEqual(layout[i][3] === "exif6-jpeg" ? [h, w] : [w, h]);
    }
    expect(rb.byKey.get("train/cat/c1")!.caption).toBe("a tabby cat on a sofa");
    expect(rb.byKey.get("train/zebra_fish/z1")!.caption).toBe("zebra fish");
  });

  it("JSONL (demo layout): paths relative to the table's folder, label, lang, extra columns", async () => {
    const root = tmpDir();
    const lines: string[] = [];
    const imgs: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      const img = await makeImage(i % 2 ? "png" : "jpeg", 10 + i, 10, i);
      imgs.push(img);
      const rel = i === 4 ? "../elsewhere/e.jpg" : `images/${i}.${i % 2 ? "png" : "jpg"}`;
      await writeFile(path.resolve(root, "meta", rel), img);
      lines.push(JSON.stringify({ key: `k${i}`, image: rel, caption: `caption ${i}`, lang: i % 2 ? "de" : "en", label: i % 3, score: i * 0.5, source: `s${i}` }));
    }
    await writeFile(path.join(root, "meta", "pairs.jsonl"), lines.join("\n") + "\n\n");
    const out = tmpDir();
    await ingest({ input: path.join(root, "meta", "pairs.jsonl"), output: out, rowsPerShard: 2, quiet: true });
    const rb = await readBack(out);
    expect(rb.shardRows).toEqual([2, 2, 1]);
    rb.rows.forEach((r, i) => {
      expect(r.key).toBe(`k${i}`);
      expect(r.caption).toBe(`caption ${i}`);
      expect(r.image.equals(imgs[i])).toBe(true);
      expect([r.width, r.height]).toEqual([10 + i, 10]);
      expect(r.label).toBe(i % 3);
      expect(r.lang).toBe(i % 2 ? "de" : "en");
      expect(r.score).toBe(i * 0.5);
      expect(r.source).toBe(`s${i}`);
    });
    const t = A.tableFromIPC(await fs.readFile(path.join(out, rb.manifest.shards[0].file)));
    expect(String(t.schema.fields.find((f) => f.name === "score")!.type)).toBe("Float64");
    expect(String(t.schema.fields.find((f) => f.name === "label")!.type)).toBe("Int32");
  });

  it("CSV with quoted fields and configured column names; TSV by extension", async () => {
    const root = tmpDir();
    const captions = ['a "quoted" word, and a comma', "two\nlines", "plain", "ünïcödé"];
    const imgs: Buffer[] = [];
    const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
    const rows = ["id,filepath,alt_text,width,views,zip"];
    for (const [i, c] of captions.entries()) {
      const img = await makeImage("jpeg", 12, 8 + i, i);
      imgs.push(img);
      await writeFile(path.join(root, "img", `${i}.jpg`), img);
      rows.push([`id${i}`, `img/${i}.jpg`, q(c), "1", String(i * 10), "00123"].join(","));
    }
    await writeFile(path.join(root, "t.csv"), rows.join("\r\n") + "\r\n");
    const out = tmpDir();
    await ingest({ input: path.join(root, "t.csv"), output: out, rowsPerShard: 10, columns: { key: "id", image: "filepath", caption: "alt_text" }, quiet: true });
    const rb = await readBack(out);
    expect(rb.rows.map((r) => r.caption)).toEqual(captions);
    rb.rows.forEach((r, i) => {
      expect(r.key).toBe(`id${i}`);
      expect(r.image.equals(imgs[i])).toBe(true);
      expect(r.height).toBe(8 + i); // from the image, not the CSV's width column
      expect(r.views).toBe(i * 10);
      expect(r.zip).toBe("00123"); // does not print back as a number: kept as text
    });
    const tsv = rows.map((l) => l.replace(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/g, "\t")).join("\n");
    await writeFile(path.join(root, "t.tsv"), tsv);
    const out2 = tmpDir();
    await ingest({ input: path.join(root, "t.tsv"), output: out2, columns: { key: "id", image: "filepath", caption: "alt_text" }, quiet: true });
    expect((await readBack(out2)).rows.map((r) => r.caption)).toEqual(captions);
  });

  it("parquet with a path column (several row groups) and with an image-bytes column", async () => {
    const root = tmpDir();
    const n = 7;
    const imgs = await Promise.all(Array.from({ length: n }, (_, i) => makeImage("webp", 5 + i, 6, i)));
    for (let i = 0; i < n; i++) await writeFile(path.join(root, "p", `${i}.webp`), imgs[i]);
    await writeParquet(
      path.join(root, "paths.parquet"),
      [
        { name: "key", data: imgs.map((_, i) => `p${i}`), type: "STRING" },
        { name: "path", data: imgs.map((_, i) => `p/${i}.webp`), type: "STRING" },
        { name: "text", data: imgs.map((_, i) => `text ${i}`), type: "STRING" },
        { name: "similarity", data: imgs.map((_, i) => 0.25 + i), type: "DOUBLE" },
        { name: "nsfw", data: imgs.map((_, i) => i % 2 === 0), type: "BOOLEAN" },
      ],
      3,
    );
    // The reader goes row group by row group: make sure there are several.
    expect(parquetMetadata(new Uint8Array(await fs.readFile(path.join(root, "paths.parquet"))).buffer).row_groups.length).toBe(3);
    const out = tmpDir();
    await ingest({ input: path.join(root, "paths.parquet"), output: out, rowsPerShard: 4, quiet: true });
    const rb = await readBack(out);
    expect(rb.shardRows).toEqual([4, 3]);
    rb.rows.forEach((r, i) => {
      expect([r.key, r.caption]).toEqual([`p${i}`, `text ${i}`]);
      expect(r.image.equals(imgs[i])).toBe(true);
      expect([r.width, r.height]).toEqual([5 + i, 6]);
      expect(r.similarity).toBe(0.25 + i);
      expect(r.nsfw).toBe(i % 2 === 0 ? 1 : 0);
    });
    await writeParquet(path.join(root, "bytes.parquet"), [
      { name: "key", data: ["b0", "b1"], type: "STRING" },
      { name: "jpg", data: [imgs[0], imgs[1]], type: "BYTE_ARRAY" },
      { name: "caption", data: ["zero", "one"], type: "STRING" },
    ]);
    const out2 = tmpDir();
    await ingest({ input: path.join(root, "bytes.parquet"), output: out2, quiet: true });
    const rb2 = await readBack(out2);
    expect(rb2.manifest.skipped).toMatchObject({ count: 0 });
    expect(rb2.rows.map((r) => [r.key, r.caption, r.image.equals(imgs[Number(r.key[1])])])).toEqual([["b0", "zero", true], ["b1", "one", true]]);
  });

  it("a re-run replaces the shards and removes stale ones", async () => {
    const root = tmpDir();
    const lines = [];
    for (let i = 0; i < 5; i++) {
      await writeFile(path.join(root, `${i}.png`), await makeImage("png", 4, 4, i));
      lines.push(JSON.stringify({ key: `k${i}`, image: `${i}.png`, caption: "c" }));
    }
    await writeFile(path.join(root, "a.jsonl"), lines.join("\n"));
    const out = tmpDir();
    await ingest({ input: path.join(root, "a.jsonl"), output: out, rowsPerShard: 1, quiet: true });
    expect((await fs.readdir(out)).filter((f) => f.endsWith(".arrow")).length).toBe(5);
    await ingest({ input: path.join(root, "a.jsonl"), output: out, rowsPerShard: 2, quiet: true });
    expect((await fs.readdir(out)).filter((f) => f.endsWith(".arrow")).sort()).toEqual(["shard-000000.arrow", "shard-000001.arrow", "shard-000002.arrow"]);
    expect((await verifyShards(out)).ok).toBe(true);
  });
});
