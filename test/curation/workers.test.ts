// The package's worker entry is compiled JavaScript (./match-worker.js beside
// match-file.js), so this test compiles the curation stage with tsc into
// node_modules/.cache (where Node still finds the dependencies) and runs the
// compiled matchFile with real worker threads. From the TypeScript sources
// the workers load match-worker.ts through tsx; that is checked too.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { matchFile as matchFromSource, matchShards as matchShardsFromSource } from "../../src/curation/index.js";
import { writeShards, type Row } from "../data/loader-fixtures.js";
import { makeImage } from "../data/fixtures.js";
import { Rng } from "../../src/util/hash.js";

const root = path.resolve(import.meta.dirname, "../..");
const out = path.join(root, "node_modules/.cache/clipts-test-curation", String(process.pid));
const dir = mkdtempSync(path.join(tmpdir(), "clipts-workers-"));
const p = (f: string) => path.join(dir, f);
type Lib = typeof import("../../src/curation/index.js");
let lib: Lib;

beforeAll(() => {
  rmSync(out, { recursive: true, force: true });
  execFileSync(process.execPath, [
    path.join(root, "node_modules/typescript/bin/tsc"), "--outDir", out, "--rootDir", path.join(root, "src"),
    "--module", "NodeNext", "--moduleResolution", "NodeNext", "--target", "ES2022", "--strict", "--skipLibCheck",
    "--types", "node", "--esModuleInterop",
    path.join(root, "src/curation/index.ts"), path.join(root, "src/curation/metaclip/match-worker.ts"),
  ], { stdio: "pipe" });
  return import(pathToFileURL(path.join(out, "curation/index.js")).href).then((m: Lib) => {
    lib = m;
  });
});

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("matching with worker threads", () => {
  const rng = new Rng(4);
  const words = Array.from({ length: 60 }, (_, i) => `w${i}`);
  const entries = [...words, ...Array.from({ length: 40 }, () => `${words[rng.int(60)]} ${words[rng.int(60)]}`)];
  writeFileSync(p("meta.json"), JSON.stringify(entries));
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const text = Array.from({ length: 1 + rng.int(12) }, () => (rng.next() < 0.1 ? "," : words[rng.int(80)] ?? "zz")).join(" ");
    lines.push(i % 500 === 7 ? "{broken" : JSON.stringify({ key: `k${i}`, text }));
  }
  writeFileSync(p("texts.jsonl"), lines.join("\n") + "\n");

  it("gives identical output and counts for 1, 2 and 3 workers, with and without shards", async () => {
    const run = async (workers: number, name: string, shard?: { index: number; count: number }) =>
      lib.matchFile({ metadata: p("meta.json"), input: p("texts.jsonl"), output: p(name), workers, shard, batchLines: 37, quiet: true });
    const one = await run(1, "w1.jsonl");
    const ref = readFileSync(one.output, "utf8");
    expect(ref.split("\n").length - 1).toBe(3000 - 6);
    for (const w of [2, 3]) {
      const r = await run(w, `w${w}.jsonl`);
      expect(r.stats.workers).toBe(w); // really ran on worker threads
      expect(readFileSync(r.output, "utf8")).toBe(ref);
      expect(Array.from(r.counts)).toEqual(Array.from(one.counts));
      expect(r.stats.invalidJson).toBe(6);
      expect(r.stats.matches).toBe(one.stats.matches);
    }
    let joined = "";
    const sum = new Float64Array(entries.length);
    for (let i = 0; i < 4; i++) {
      const r = await run(3, "sh.jsonl", { index: i, count: 4 });
      expect(r.output).toBe(p(`sh-${i}-of-4.jsonl`));
      joined += readFileSync(r.output, "utf8");
      r.counts.forEach((c, e) => (sum[e]! += c));
    }
    expect(joined).toBe(ref);
    expect(Array.from(sum)).toEqual(Array.from(one.counts));
  });

  it("matches a shard folder identically on 1 and 3 worker threads (sidecars, counts, stats)", async () => {
    // Two shards of 2,500 rows: several 1,024-row batches per shard in flight at once.
    const image = await makeImage("png", 8, 8, 1);
    const shards: Row[][] = [0, 1].map((s) =>
      Array.from({ length: 2500 }, (_, r) => ({ key: `s${s}r${r}`, caption: r % 997 === 5 ? null : lines[(s * 2500 + r) % lines.length]!, image, width: 8, height: 8 })),
    );
    const shardsDir = writeShards(shards);
    const run = (workers: number) => lib.matchShards({ metadata: p("meta.json"), shards: shardsDir, output: p(`shards-w${workers}`), workers, quiet: true });
    const one = await run(1);
    const three = await run(3);
    expect(three.stats.workers).toBe(3); // really ran on worker threads
    expect(one.stats).toMatchObject({ rows: 5000, badRows: 6, workers: 1 });
    expect(three.sidecars.map((f) => readFileSync(f, "utf8"))).toEqual(one.sidecars.map((f) => readFileSync(f, "utf8")));
    expect(Array.from(three.counts)).toEqual(Array.from(one.counts));
    expect({ ...three.stats, workers: 1 }).toEqual(one.stats);
    // The sidecars hold each row's own matches (a shifted or reordered batch would not).
    const matcher = lib.buildMatcher(entries);
    const first = readFileSync(one.sidecars[1]!, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { key: string; row: number; entries: number[] });
    for (const l of first) expect(l.entries).toEqual(Array.from(matcher.match(shards[1]![l.row]!.caption!)));
    // From the TypeScript sources the same call runs on worker threads too.
    const src = await matchShardsFromSource({ metadata: p("meta.json"), shards: shardsDir, output: p("shards-src"), workers: 3, quiet: true });
    expect(src.stats.workers).toBe(3);
    expect(src.sidecars.map((f) => readFileSync(f, "utf8"))).toEqual(one.sidecars.map((f) => readFileSync(f, "utf8")));
    expect(Array.from(src.counts)).toEqual(Array.from(one.counts));
  });

  it("runs worker threads from the TypeScript sources too (tsx), with the same output", async () => {
    const r = await matchFromSource({ metadata: p("meta.json"), input: p("texts.jsonl"), output: p("src.jsonl"), workers: 3, quiet: true });
    expect(r.stats.workers).toBe(3);
    expect(readFileSync(r.output, "utf8")).toBe(readFileSync(p("w1.jsonl"), "utf8"));
  });
});
