// Hostile inputs for ingest and checkpoints: devices, FIFOs, folders and
// oversize files where a file is expected, oversize tar members, stray CSV
// quotes. Each case asserts the exact count and reason reported; a run that
// fails leaves the previous good output untouched.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, promises as fs, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ingest } from "../../src/data/ingest.js";
import { readCsvRecords } from "../../src/formats/input/csv.js";
import { readWds } from "../../src/formats/input/wds.js";
import { isSkip, type ReaderItem } from "../../src/formats/input/common.js";
import { verifyShards } from "../../src/formats/shards.js";
import { resolveCheckpoint } from "../../src/model/checkpoint.js";
import { readFileBounded } from "../../src/util/bounded-read.js";
import { makeImage, tmpDir, writeFile, writeTar } from "./fixtures.js";
import { readBack, skippedByKey } from "./readback.js";

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile()) out[e.name] = createHash("sha256").update(await fs.readFile(path.join(dir, e.name))).digest("hex");
  }
  return out;
}

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

describe("bounded reads of user-named paths", () => {
  it("the util refuses a device, a FIFO, a folder and an oversize file, naming the path, without blocking", async () => {
    const d = tmpDir();
    const fifo = path.join(d, "fifo");
    execFileSync("mkfifo", [fifo]);
    writeFileSync(path.join(d, "big"), Buffer.alloc(101));
    await expect(readFileBounded("/dev/zero", 100, "image")).rejects.toThrow("/dev/zero: image must be a regular file (a character device)");
    await expect(readFileBounded(fifo, 100, "image")).rejects.toThrow(`${fifo}: image must be a regular file (a FIFO)`);
    await expect(readFileBounded(d, 100, "image")).rejects.toThrow(`${d}: image must be a regular file (a folder)`);
    await expect(readFileBounded(path.join(d, "big"), 100, "image")).rejects.toThrow(`${path.join(d, "big")}: image too large (101 bytes > max 100)`);
    expect((await readFileBounded(path.join(d, "big"), 101)).length).toBe(101);
  });

  it("JSONL ingest: image paths naming /dev/zero, a FIFO, a folder or an oversize file are skipped and counted", async () => {
    const root = tmpDir();
    const good = await makeImage("png", 8, 8, 1);
    await writeFile(path.join(root, "good.png"), good);
    await writeFile(path.join(root, "big.png"), Buffer.concat([good, Buffer.alloc(5000)]));
    execFileSync("mkfifo", [path.join(root, "fifo.png")]);
    mkdirSync(path.join(root, "dir.png"));
    await writeFile(
      path.join(root, "t.jsonl"),
      jsonl([
        { key: "good", image: "good.png", caption: "ok" },
        { key: "zero", image: "/dev/zero", caption: "c" },
        { key: "fifo", image: "fifo.png", caption: "c" },
        { key: "dir", image: "dir.png", caption: "c" },
        { key: "big", image: "big.png", caption: "c" },
      ]),
    );
    const out = path.join(root, "out");
    const { manifest } = await ingest({ input: path.join(root, "t.jsonl"), output: out, maxImageBytes: good.length + 100, quiet: true });
    expect(manifest.rows).toBe(1);
    expect(manifest.skipped.count).toBe(4);
    expect(manifest.skipped.byReason).toEqual({ "image not a regular file": 3, "image too large": 1 });
    const why = skippedByKey(manifest);
    expect(why.get("zero")).toBe("image not a regular file: /dev/zero (a character device)");
    expect(why.get("fifo")).toBe(`image not a regular file: ${path.join(root, "fifo.png")} (a FIFO)`);
    expect(why.get("dir")).toBe(`image not a regular file: ${path.join(root, "dir.png")} (a folder)`);
    expect(why.get("big")).toBe(`image too large: ${path.join(root, "big.png")} (${good.length + 5000} bytes > max ${good.length + 100})`);
  });

  it("tar: an oversize image member and an oversize .txt member are drained, skipped and counted; neighbours stay", async () => {
    const root = tmpDir();
    const img = await makeImage("jpeg", 8, 8, 2);
    const tarFile = path.join(root, "a.tar");
    await writeTar(tarFile, [
      { name: "s0.jpg", data: img },
      { name: "s0.txt", data: "fine" },
      { name: "s1.jpg", data: Buffer.concat([img, Buffer.alloc(4000)]) },
      { name: "s1.txt", data: "too big image" },
      { name: "s2.jpg", data: img },
      { name: "s2.txt", data: "x".repeat(300) },
      { name: "s3.jpg", data: img },
      { name: "s3.txt", data: "fine too" },
    ]);
    const src = await readWds(tarFile, { maxImageBytes: img.length + 10, maxTextBytes: 200 });
    const items: ReaderItem[] = [];
    for await (const it of src.items) items.push(it);
    expect(items.map((i) => (isSkip(i) ? `${i.key}: ${i.skip}` : i.key))).toEqual([
      "s0",
      `s1: tar member too large: s1.jpg in a.tar (${img.length + 4000} bytes > max ${img.length + 10})`,
      "s2: tar member too large: s2.txt in a.tar (300 bytes > max 200)",
      "s3",
    ]);
    // Through ingest (image limit only), with the previous output replaced only because the run succeeded.
    const out = path.join(root, "out");
    const { manifest } = await ingest({ input: tarFile, output: out, maxImageBytes: img.length + 10, quiet: true });
    expect([manifest.rows, manifest.skipped.count, manifest.skipped.byReason]).toEqual([3, 1, { "tar member too large": 1 }]);
    expect((await readBack(out)).rows.map((r) => r.key)).toEqual(["s0", "s2", "s3"]);
  });

  it("a failing ingest (bad option, missing input) leaves the previous dataset byte-identical", async () => {
    const root = tmpDir();
    await writeFile(path.join(root, "good.png"), await makeImage("png", 8, 8, 1));
    await writeFile(path.join(root, "t.jsonl"), jsonl([{ key: "a", image: "good.png", caption: "ok" }]));
    const out = path.join(root, "out");
    await ingest({ input: path.join(root, "t.jsonl"), output: out, quiet: true });
    const before = await snapshot(out);
    await expect(ingest({ input: path.join(root, "t.jsonl"), output: out, batchRows: Number("abc"), quiet: true })).rejects.toThrow(/--batch-rows/);
    await expect(ingest({ input: path.join(root, "missing.jsonl"), output: out, quiet: true })).rejects.toThrow(/missing\.jsonl: input not found/);
    expect(await snapshot(out)).toEqual(before);
    expect((await verifyShards(out)).ok).toBe(true);
  });
});

describe("CSV per RFC 4180", () => {
  async function records(text: string, max?: number) {
    const f = path.join(tmpDir(), "t.csv");
    writeFileSync(f, text);
    const out: string[] = [];
    for await (const r of readCsvRecords(f, 44, max)) out.push(r.error ? `${r.line}! ${r.error}` : `${r.line}: ${r.fields.map((x) => Buffer.from(x).toString()).join("|")}`);
    return out;
  }

  it("a quote inside an unquoted field is literal and swallows nothing", async () => {
    const rows = ["key,caption,path", 'k1,a 5" screen,a.png', "k2,plain,b.png", 'k3,"quoted, with ""q""",c.png', "k4,x\"y\"z,d.png"];
    expect(await records(rows.join("\n") + "\n")).toEqual([
      "1: key|caption|path",
      '2: k1|a 5" screen|a.png',
      "3: k2|plain|b.png",
      '4: k3|quoted, with "q"|c.png',
      '5: k4|x"y"z|d.png',
    ]);
  });

  it("text after a closing quote makes that row bad, alone; quoted newlines and CRLF still work", async () => {
    const text = 'k,c\r\nk1,"ab"cd\r\nk2,"two\nlines"\r\nk3,"ok"\r\n';
    expect(await records(text)).toEqual(["1: k|c", "2! bad CSV row: text after a closing quote", "3: k2|two\nlines", "5: k3|ok"]);
  });

  it("an unterminated quote stops buffering at the record cap and reports the lines it spans", async () => {
    const lines = ["k,c", 'k1,"never closed'];
    for (let i = 0; i < 200; i++) lines.push(`k${i + 2},caption ${i}`);
    const out = await records(lines.join("\n") + "\n", 1000);
    expect(out).toEqual(["1: k|c", "2! bad CSV row: record over 1000 bytes (unterminated quote?) (lines 2-203)"]);
    // At the default cap: the same file is one unterminated record at end of file.
    expect(await records(lines.join("\n") + "\n")).toEqual(["1: k|c", "2! bad CSV row: unterminated quoted field at end of file (lines 2-203)"]);
  });

  it("ingest of a CSV with a stray quote keeps every other row (was: rest of the file swallowed)", async () => {
    const root = tmpDir();
    await writeFile(path.join(root, "a.png"), await makeImage("png", 8, 8, 1));
    const rows = ["key,caption,image"];
    for (let i = 0; i < 50; i++) rows.push(i === 3 ? `k${i},a 5" screen,a.png` : `k${i},cap ${i},a.png`);
    await writeFile(path.join(root, "t.csv"), rows.join("\n") + "\n");
    const { manifest } = await ingest({ input: path.join(root, "t.csv"), output: path.join(root, "out"), quiet: true, decode: false });
    expect([manifest.rows, manifest.skipped.count]).toEqual([50, 0]);
    const back = await readBack(path.join(root, "out"));
    expect(back.rows.find((r) => r.key === "k3")!.caption).toBe('a 5" screen');
  });
});

describe("checkpoint pointers", () => {
  it("latest pointing outside the folder, at a device, or being a FIFO is refused, naming the pointer", async () => {
    const d = tmpDir();
    writeFileSync(path.join(d, "latest"), "../../dev/zero\n");
    expect(() => resolveCheckpoint("latest", d)).toThrow(`${path.join(d, "latest")}: must hold a checkpoint file name like step-00000010.safetensors, got "../../dev/zero"`);
    writeFileSync(path.join(d, "latest"), Buffer.alloc(10_000, 65));
    expect(() => resolveCheckpoint("latest", d)).toThrow(`${path.join(d, "latest")}: checkpoint pointer too large (10000 bytes > max 4096)`);
    await fs.rm(path.join(d, "latest"));
    execFileSync("mkfifo", [path.join(d, "latest")]);
    expect(() => resolveCheckpoint("latest", d)).toThrow(`${path.join(d, "latest")}: checkpoint pointer must be a regular file (a FIFO)`);
    expect(() => resolveCheckpoint("/dev/zero", d)).toThrow("--resume /dev/zero: a checkpoint must be a regular file");
  });
});

describe("control files and caption files", () => {
  it("a config, metadata or shard manifest that is a device or FIFO is refused without blocking", async () => {
    const { loadConfig } = await import("../../src/train/config.js");
    const { loadMetadata } = await import("../../src/curation/metaclip/metadata.js");
    const { listShards } = await import("../../src/formats/shards.js");
    const d = tmpDir();
    execFileSync("mkfifo", [path.join(d, "manifest.json")]);
    expect(() => loadConfig("/dev/zero")).toThrow("/dev/zero: config must be a regular file (a character device)");
    await expect(loadMetadata("/dev/zero")).rejects.toThrow("/dev/zero: metadata must be a regular file (a character device)");
    await expect(listShards(d)).rejects.toThrow(`${path.join(d, "manifest.json")}: shard manifest must be a regular file (a FIFO)`);
  });

  it("class folder: caption .txt files that link to a FIFO or /dev/zero, or are too large, are skipped and counted", async () => {
    const root = tmpDir();
    const cls = path.join(root, "in", "cat");
    mkdirSync(cls, { recursive: true });
    for (const n of ["a", "b", "c", "d"]) await writeFile(path.join(cls, `${n}.png`), await makeImage("png", 8, 8, n.charCodeAt(0)));
    await writeFile(path.join(cls, "a.txt"), "a cat on a mat");
    execFileSync("mkfifo", [path.join(root, "fifo")]);
    await fs.symlink(path.join(root, "fifo"), path.join(cls, "b.txt"));
    await fs.symlink("/dev/zero", path.join(cls, "c.txt"));
    await writeFile(path.join(cls, "d.txt"), Buffer.alloc(16 * 2 ** 20 + 1, 97));
    const { manifest } = await ingest({ input: path.join(root, "in"), output: path.join(root, "out"), quiet: true });
    expect([manifest.rows, manifest.skipped.count, manifest.skipped.byReason]).toEqual([1, 3, { "caption file not a regular file": 2, "caption file too large": 1 }]);
    const why = skippedByKey(manifest);
    expect(why.get("cat/b")).toBe(`caption file not a regular file: ${path.join(cls, "b.txt")} (a FIFO)`);
    expect(why.get("cat/c")).toBe(`caption file not a regular file: ${path.join(cls, "c.txt")} (a character device)`);
    expect(why.get("cat/d")).toBe(`caption file too large: ${path.join(cls, "d.txt")} (${16 * 2 ** 20 + 1} bytes > max ${16 * 2 ** 20})`);
  });
});
