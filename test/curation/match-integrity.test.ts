// `curate match` on shards: outputs swapped in only when the run completes
// (a SIGKILL leaves the previous set), a completion marker that balance
// requires, and shards cut short reported with the rows they lost.
import { describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, promises as fs, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { matchShards, sidecarsIn, markerName } from "../../src/curation/metaclip/shard-match.js";
import { ShardWriter } from "../../src/formats/shards.js";

const root = path.resolve(__dirname, "../..");
const cli = ["--import", "tsx", path.join(root, "src/cli/main.ts")];

async function makeShards(dir: string, rows: number, rowsPerShard: number, word: string) {
  const w = new ShardWriter(dir, { rowsPerShard });
  await w.start();
  for (let i = 0; i < rows; i++) await w.add({ key: `k${i}`, caption: `a ${i % 2 ? word : "dog"} photo`, image: new Uint8Array([1, 2, 3]), width: 1, height: 1 });
  return w.finish();
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile()) out[e.name] = createHash("sha256").update(await fs.readFile(path.join(dir, e.name))).digest("hex");
  }
  return out;
}

describe("curate match outputs", () => {
  it("a SIGKILL mid-run leaves the previous sidecars, counts, stats and marker; balance still takes them", async () => {
    const work = mkdtempSync(path.join(tmpdir(), "clipts-matchkill-"));
    const meta = path.join(work, "metadata.json");
    writeFileSync(meta, JSON.stringify(["cat", "dog", "photo"]));
    const small = path.join(work, "small");
    const big = path.join(work, "big");
    await makeShards(small, 6, 2, "cat");
    await makeShards(big, 2400, 2, "cat"); // 1200 shards: the child is killed long before it ends
    const out = path.join(work, "m");
    await matchShards({ metadata: meta, shards: small, output: out, quiet: true });
    const before = await snapshot(out);
    expect(Object.keys(before)).toContain(markerName());
    const child = spawn(process.execPath, [...cli, "curate", "match", "--metadata", meta, "--input", big, "--output", out, "--quiet"], { cwd: root, stdio: "ignore" });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_c, sig) => resolve(sig)));
    const staged = path.join(out, ".staging-match", "shard-000020.matches.jsonl");
    for (let t = 0; t < 600 && !existsSync(staged); t++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(staged)).toBe(true);
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    expect(await snapshot(out)).toEqual(before);
    expect((await sidecarsIn(out)).map((f) => path.basename(f))).toEqual(["shard-000000.matches.jsonl", "shard-000001.matches.jsonl", "shard-000002.matches.jsonl"]);
    // The next run clears the leftovers and completes.
    const r = await matchShards({ metadata: meta, shards: small, output: out, quiet: true });
    expect(r.stats.rows).toBe(6);
    expect(existsSync(path.join(out, ".staging-match"))).toBe(false);
  }, 60_000);

  it("balance refuses sidecars that no completion marker lists, with a clear message", async () => {
    const work = mkdtempSync(path.join(tmpdir(), "clipts-matchpart-"));
    const meta = path.join(work, "metadata.json");
    writeFileSync(meta, JSON.stringify(["cat", "dog"]));
    const shards = path.join(work, "s");
    await makeShards(shards, 6, 2, "cat");
    const out = path.join(work, "m");
    await matchShards({ metadata: meta, shards, output: out, quiet: true });
    // A sidecar left by an interrupted run (older clipts, or a copied-in file).
    writeFileSync(path.join(out, "shard-000009.matches.jsonl"), '{"key":"x","shard":"shard-000009.arrow","row":0,"entries":[0]}\n');
    await expect(sidecarsIn(out)).rejects.toThrow(/1 sidecar\(s\) without a completed `curate match` run \(first: shard-000009\.matches\.jsonl\)/);
    await fs.rm(path.join(out, "shard-000009.matches.jsonl"));
    await fs.rm(path.join(out, markerName()));
    await expect(sidecarsIn(out)).rejects.toThrow(/3 sidecar\(s\) without a completed/);
    const bal = spawnSync(process.execPath, [...cli, "curate", "balance", "--metadata", meta, "--matches", out, "--output", path.join(work, "b"), "--t", "2", "--quiet"], { cwd: root, encoding: "utf8" });
    expect(bal.status).not.toBe(0);
    expect(bal.stderr).toMatch(/without a completed `curate match` run/);
    expect(existsSync(path.join(work, "b"))).toBe(false);
  }, 60_000);

  it("reports shards cut short and the rows they lost (not '0 bad rows' alone)", async () => {
    const work = mkdtempSync(path.join(tmpdir(), "clipts-matchcut-"));
    const meta = path.join(work, "metadata.json");
    writeFileSync(meta, JSON.stringify(["cat", "dog"]));
    const shards = path.join(work, "s");
    const w = new ShardWriter(shards, { rowsPerShard: 12, batchRows: 4 });
    await w.start();
    for (let i = 0; i < 24; i++) await w.add({ key: `k${i}`, caption: "a cat", image: new Uint8Array(200).fill(i), width: 1, height: 1 });
    await w.finish();
    const f = path.join(shards, "shard-000001.arrow");
    const bytes = await fs.readFile(f);
    await fs.writeFile(f, bytes.subarray(0, Math.floor(bytes.length * 0.5)));
    const r = await matchShards({ metadata: meta, shards, output: path.join(work, "m"), quiet: true });
    expect(r.stats.cutShort).toEqual(["shard-000001.arrow"]);
    expect(r.stats.rows + r.stats.cutRows).toBe(24);
    expect(r.stats.cutRows).toBeGreaterThan(0);
    const res = spawnSync(process.execPath, [...cli, "curate", "match", "--metadata", meta, "--input", shards, "--output", path.join(work, "m2"), "--quiet"], { cwd: root, encoding: "utf8" });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stderr).toContain(`warning: 1 shard(s) cut short, ${r.stats.cutRows} row(s) unreadable and not matched: shard-000001.arrow`);
  }, 60_000);
});
