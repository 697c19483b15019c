// Data integrity at real sizes, proven with small limits: record batches and
// shards split by bytes (Arrow Binary offsets are int32), images over the cap
// skipped and counted, verify checks image lengths, and a failed or killed
// ingest leaves the previous dataset untouched.
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, promises as fs, writeFileSync } from "node:fs";
import path from "node:path";
import * as A from "apache-arrow";
import { ingest } from "../../src/data/ingest.js";
import { encodeShard, listShards, sha256Bytes, ShardWriter, STAGING_DIR, verifyShards, MANIFEST_FILE } from "../../src/formats/shards.js";
import type { Sample } from "../../src/formats/types.js";
import { makeImage, tmpDir, writeFile } from "./fixtures.js";

const root = path.resolve(__dirname, "../..");

function sample(i: number, size = 300 + i): Sample {
  const image = new Uint8Array(size).map((_, j) => (i * 31 + j) & 255);
  return { key: `k${i}`, caption: `c${i}`, image, width: 1, height: 1 };
}

/** Every file in a folder (not recursive) with its sha256. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (e.isFile()) out[e.name] = createHash("sha256").update(await fs.readFile(path.join(dir, e.name))).digest("hex");
  }
  return out;
}

describe("byte caps", () => {
  it("splits record batches by bytes and keeps every image whole", async () => {
    const dir = tmpDir();
    // ~300-byte images, cap 1000 bytes per batch: 3 rows per batch at most, though batchRows allows 64.
    const w = new ShardWriter(dir, { rowsPerShard: 20, batchRows: 64, maxBatchBytes: 1000 });
    await w.start();
    for (let i = 0; i < 20; i++) await w.add(sample(i));
    const m = await w.finish();
    const t = A.tableFromIPC(await fs.readFile(path.join(dir, m.shards[0].file)));
    expect(t.numRows).toBe(20);
    for (const b of t.batches) {
      let bytes = 0;
      for (let r = 0; r < b.numRows; r++) bytes += (b.getChild("image")!.get(r) as Uint8Array).byteLength + 2 * String(b.getChild("key")!.get(r)).length;
      expect(bytes).toBeLessThanOrEqual(1000);
    }
    expect(t.batches.length).toBe(7); // 3 rows per batch (3*~330 bytes < 1000 < 4*~330), 20 rows
    for (let i = 0; i < 20; i++) expect(Buffer.from(t.getChild("image")!.get(i) as Uint8Array).equals(Buffer.from(sample(i).image))).toBe(true);
    expect(m.shards[0].imageBytes).toBe(Array.from({ length: 20 }, (_, i) => 300 + i).reduce((a, b) => a + b));
    expect((await verifyShards(dir)).ok).toBe(true);
  });

  it("writes a shard early when its bytes would pass the cap", async () => {
    const dir = tmpDir();
    const w = new ShardWriter(dir, { rowsPerShard: 100, maxShardBytes: 2000 });
    await w.start();
    for (let i = 0; i < 20; i++) await w.add(sample(i));
    const m = await w.finish();
    expect(m.rows).toBe(20);
    // Sample i adds 300+i image bytes + key + caption; greedy fill under 2000 bytes, computed independently:
    const want: number[] = [];
    let n = 0, bytes = 0;
    for (let i = 0; i < 20; i++) {
      const b = 300 + i + 2 * (1 + String(i).length);
      if (n > 0 && bytes + b > 2000) (want.push(n), (n = 0), (bytes = 0));
      n++, (bytes += b);
    }
    want.push(n);
    expect(want).toEqual([6, 6, 6, 2]);
    expect(m.shards.map((s) => s.rows)).toEqual(want);
    expect((await verifyShards(dir)).ok).toBe(true);
  });

  it("skips and counts images over the maximum, with their key and reason", async () => {
    const dir = tmpDir();
    const w = new ShardWriter(dir, { rowsPerShard: 10, maxImageBytes: 400 });
    await w.start();
    for (let i = 0; i < 5; i++) await w.add(sample(i, i % 2 === 0 ? 401 : 400));
    const m = await w.finish();
    expect(m.rows).toBe(2);
    expect(m.skipped.count).toBe(3);
    expect(m.skipped.byReason).toEqual({ "image too large": 3 });
    expect(m.skipped.items!.map((s) => s.key)).toEqual(["k0", "k2", "k4"]);
    expect(m.skipped.items![0].reason).toBe("image too large: 401 bytes > max 400");
  });

  it("rejects caps that would pass the Arrow Binary limit, and a non-numeric batch-rows, before any work", async () => {
    expect(() => new ShardWriter(tmpDir(), { rowsPerShard: 10, maxImageBytes: 2 ** 31 })).toThrow(/max-image-bytes must be an integer in \[1, 1073741824\]/);
    expect(() => new ShardWriter(tmpDir(), { rowsPerShard: 10, maxBatchBytes: 0 })).toThrow(/max-batch-bytes/);
    const out = path.join(tmpDir(), "out");
    await expect(ingest({ input: "/nonexistent.jsonl", output: out, batchRows: Number("abc") })).rejects.toThrow(/--batch-rows must be a positive integer, got NaN/);
    expect(existsSync(out)).toBe(false);
  });

  it("hashes in chunks: same digest as one update", () => {
    const big = new Uint8Array(130 * 2 ** 20).map((_, i) => i * 7);
    expect(sha256Bytes(big)).toBe(createHash("sha256").update(big).digest("hex"));
  });

  it("verify finds an empty image and image bytes that differ from the manifest", async () => {
    const dir = tmpDir();
    const w = new ShardWriter(dir, { rowsPerShard: 10 });
    await w.start();
    for (let i = 0; i < 3; i++) await w.add(sample(i));
    const m = await w.finish();
    // Rewrite the shard with one image emptied, hash updated: only the length check can tell.
    const rows = [sample(0), { ...sample(1), image: new Uint8Array(0) }, sample(2)];
    const { bytes } = encodeShard(rows, 64);
    await fs.writeFile(path.join(dir, m.shards[0].file), bytes);
    const man = await listShards(dir);
    man.shards[0].sha256 = sha256Bytes(bytes);
    await fs.writeFile(path.join(dir, MANIFEST_FILE), JSON.stringify(man));
    const v = await verifyShards(dir);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.problem)).toEqual(["1 empty image(s) (first: k1)", `image bytes ${300 + 302} != manifest ${300 + 301 + 302}`]);
  });
});

describe("outputs replaced only on success", () => {
  it("an aborted run leaves the previous manifest and shards byte-identical", async () => {
    const dir = tmpDir();
    const w = new ShardWriter(dir, { rowsPerShard: 2 });
    await w.start();
    for (let i = 0; i < 5; i++) await w.add(sample(i));
    await w.finish();
    const before = await snapshot(dir);
    const w2 = new ShardWriter(dir, { rowsPerShard: 2 });
    await w2.start();
    for (let i = 10; i < 17; i++) await w2.add(sample(i));
    expect(await snapshot(dir)).toEqual(before); // new shards are staged, not in place
    await w2.abort();
    expect(await snapshot(dir)).toEqual(before);
    expect(existsSync(path.join(dir, STAGING_DIR))).toBe(false);
    expect((await verifyShards(dir)).ok).toBe(true);
  });

  it("SIGKILL during ingest leaves the previous dataset intact; the next run clears the staging folder", async () => {
    const src = tmpDir();
    await writeFile(path.join(src, "a.png"), await makeImage("png", 8, 8, 1));
    const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ key: `${tag}${i}`, image: "a.png", caption: `c ${i}` })).join("\n") + "\n";
    await writeFile(path.join(src, "old.jsonl"), lines(7, "old"));
    await writeFile(path.join(src, "new.jsonl"), lines(3000, "new"));
    const out = path.join(tmpDir(), "shards");
    await ingest({ input: path.join(src, "old.jsonl"), output: out, rowsPerShard: 2, quiet: true });
    const before = await snapshot(out);
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(root, "src/cli/main.ts"), "data", "ingest", "-i", path.join(src, "new.jsonl"), "-o", out, "--rows-per-shard", "2", "--no-decode", "--quiet"],
      { cwd: root, stdio: "ignore" },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_c, sig) => resolve(sig)));
    // Kill once the new run has staged some shards (it writes 1500).
    const staged = path.join(out, STAGING_DIR, "shard-000010.arrow");
    for (let t = 0; t < 600 && !existsSync(staged); t++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(staged)).toBe(true);
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    expect(await snapshot(out)).toEqual(before);
    const v = await verifyShards(out);
    expect([v.ok, v.rows]).toEqual([true, 7]);
    // A manifest temp file left by a run killed mid-write (another pid) is cleared by the next run.
    writeFileSync(path.join(out, ".manifest.json.tmp-999999-1"), "{");
    // A new run starts clean and swaps in.
    const r = await ingest({ input: path.join(src, "old.jsonl"), output: out, rowsPerShard: 3, quiet: true, decode: false });
    expect(r.manifest.shards.map((s) => s.rows)).toEqual([3, 3, 1]);
    expect(existsSync(path.join(out, STAGING_DIR))).toBe(false);
    expect(Object.keys(await snapshot(out)).sort()).toEqual(["manifest.json", "shard-000000.arrow", "shard-000001.arrow", "shard-000002.arrow"]);
  }, 60_000);
});
