// End to end through the CLI command modules (in-process yargs), on small JSONL
// with every kind of bad line, plus sharding and count merging.
import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync, readFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import yargs from "yargs";
import { curateCommand } from "../../src/cli/curate.js";
import { balanceKeep, buildMatcher } from "../../src/curation/index.js";
import { shardFromEnv } from "../../src/util/job-array.js";
import { Rng } from "../../src/util/hash.js";

const dir = mkdtempSync(path.join(tmpdir(), "clipts-curate-"));
const p = (f: string) => path.join(dir, f);

async function cli(args: string[]): Promise<void> {
  await yargs(args)
    .command(curateCommand)
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseAsync();
}

const readJsonl = (f: string) => readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));

const ENTRIES = ["cat", "dog", "new york", "york", "city", "red car", "st. louis", "bird"];
const WORDS = ["cat", "dog", "new", "york", "city", "red", "car", "bird", "the", "a", "big", "st.", "louis", ",", "."];

function captions(n: number, seed: number): string[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: 1 + rng.int(8) }, () => WORDS[rng.int(WORDS.length)]).join(" "));
}

describe("clipts curate (end to end)", () => {
  writeFileSync(p("meta.json"), JSON.stringify(ENTRIES));
  const texts = captions(400, 1);
  const good = texts.map((t, i) => JSON.stringify({ key: `k${i}`, text: t }));
  const long = "big ".repeat(25_000) + "cat"; // 100 KB caption
  const lines = [
    ...good.slice(0, 5),
    "{not json",
    JSON.stringify({ text: "a cat without key" }),
    JSON.stringify({ key: 7, text: "numeric key" }),
    JSON.stringify({ key: "notext" }),
    JSON.stringify({ key: "numtext", text: 12 }),
    JSON.stringify({ key: "empty", text: "" }),
    JSON.stringify({ key: "long", text: long }),
    "",
    ...good.slice(5),
  ];
  const bytes = Buffer.concat([
    Buffer.from(lines.slice(0, 3).join("\n") + "\n"),
    Buffer.from('{"key": "badutf8", "text": "cat \xff dog"}\n', "latin1"), // 0xff is not UTF-8
    Buffer.from(lines.slice(3).join("\n") + "\n"),
  ]);
  writeFileSync(p("texts.jsonl"), bytes);

  it("matches, counts bad lines, keeps output aligned with keyed input lines", async () => {
    await cli(["curate", "match", "--metadata", p("meta.json"), "--input", p("texts.jsonl"), "--output", p("m.jsonl"), "--workers", "1", "--quiet"]);
    const out = readJsonl(p("m.jsonl"));
    const keys = out.map((o) => o.key);
    // Lines without a string key produce no output; bad captions produce empty matches.
    expect(keys.slice(0, 9)).toEqual(["k0", "k1", "k2", "badutf8", "k3", "k4", "notext", "numtext", "empty"]);
    expect(keys.length).toBe(400 + 5);
    const m = buildMatcher(ENTRIES);
    const byKey = new Map(out.map((o) => [o.key, o.entries]));
    texts.forEach((t, i) => expect(byKey.get(`k${i}`)).toEqual(Array.from(m.match(t))));
    expect(byKey.get("badutf8")).toEqual([]);
    expect(byKey.get("notext")).toEqual([]);
    expect(byKey.get("long")).toEqual([0]);
    const stats = JSON.parse(readFileSync(p("m.stats.json"), "utf8"));
    expect(stats).toMatchObject({ invalidJson: 1, missingKey: 2, badText: 2, invalidUtf8: 1, emptyText: 1, longText: 1, blank: 1, written: 405 });
    expect(stats.examples.some((e: string) => /line 7: invalid JSON/.test(e))).toBe(true);
    const counts = JSON.parse(readFileSync(p("m.counts.json"), "utf8"));
    const want = new Array(ENTRIES.length).fill(0);
    for (const o of out) for (const e of o.entries) want[e]++;
    expect(counts).toEqual(want);
    expect(counts[ENTRIES.indexOf("st. louis")]).toBe(0); // never matches, as in MetaCLIP
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("balances with a data card, kept keys recomputable from the library", async () => {
    await cli(["curate", "balance", "--metadata", p("meta.json"), "--matches", p("m.jsonl"), "--t", "20", "--seed", "3", "--output", p("bal"), "--quiet"]);
    const counts = JSON.parse(readFileSync(p("bal/entry_counts.json"), "utf8"));
    expect(counts).toEqual(JSON.parse(readFileSync(p("m.counts.json"), "utf8")));
    const matches = readJsonl(p("m.jsonl"));
    const want = matches.filter((o) => balanceKeep(o.key, o.entries, counts, 20, 3)).map((o) => o.key);
    expect(readJsonl(p("bal/kept.jsonl")).map((o) => o.key)).toEqual(want);
    const card = JSON.parse(readFileSync(p("bal/datacard.json"), "utf8"));
    expect(card.texts.in).toBe(405);
    expect(card.texts.kept).toBe(want.length);
    expect(card.texts.matched).toBe(matches.filter((o) => o.entries.length > 0).length);
    expect(card.entries.zeroMatches).toBe(counts.filter((c: number) => c === 0).length);
    expect(card.entries.headAboveT).toBe(counts.filter((c: number) => c > 20).length);
    expect(card.entries.expectedMatchesAfterBalancing).toBe(counts.reduce((a: number, c: number) => a + Math.min(c, 20), 0));
    expect(Math.abs(card.texts.kept - card.texts.expectedKept)).toBeLessThan(4 * card.texts.expectedKeptSd + 1);
    expect(card.matchStage.invalidJson).toBe(1);
    expect(card.entries.tailShareAtT).toBeGreaterThanOrEqual(0);
    const svg = readFileSync(p("bal/entry_counts.svg"), "utf8");
    expect(svg).toContain("before balancing");
    expect((svg.match(/<path /g) ?? []).length).toBe(3);
  });

  it("sharded match + merge-counts + per-shard balance equals the single run", async () => {
    const n = 3;
    for (let i = 0; i < n; i++) {
      await cli(["curate", "match", "--metadata", p("meta.json"), "--input", p("texts.jsonl"), "--output", p("s/m-{shard}.jsonl"), "--shard", `${i}/${n}`, "--workers", "1", "--quiet"]);
    }
    const shardOut = [0, 1, 2].flatMap((i) => readJsonl(p(`s/m-${i}.jsonl`)));
    expect(shardOut).toEqual(readJsonl(p("m.jsonl")));
    await cli(["curate", "merge-counts", "--inputs", ...[0, 1, 2].map((i) => p(`s/m-${i}.counts.json`)), "--output", p("s/global.json")]);
    expect(JSON.parse(readFileSync(p("s/global.json"), "utf8"))).toEqual(JSON.parse(readFileSync(p("m.counts.json"), "utf8")));
    const kept: string[] = [];
    for (let i = 0; i < n; i++) {
      await cli(["curate", "balance", "--metadata", p("meta.json"), "--matches", p(`s/m-${i}.jsonl`), "--counts", p("s/global.json"), "--t", "20", "--seed", "3", "--output", p(`s/bal-${i}`), "--quiet"]);
      kept.push(...readJsonl(p(`s/bal-${i}/kept.jsonl`)).map((o) => o.key));
    }
    expect(kept).toEqual(readJsonl(p("bal/kept.jsonl")).map((o) => o.key));
  });

  it("takes the shard index from a job array environment", () => {
    expect(shardFromEnv(4, { SLURM_ARRAY_TASK_ID: "2" })).toEqual({ index: 2, count: 4 });
    expect(shardFromEnv(4, { SLURM_ARRAY_TASK_ID: "4", SLURM_ARRAY_TASK_MIN: "1" })).toEqual({ index: 3, count: 4 });
    expect(shardFromEnv(4, { JOB_COMPLETION_INDEX: "0" })).toEqual({ index: 0, count: 4 });
    expect(() => shardFromEnv(4, { SLURM_ARRAY_TASK_ID: "4" })).toThrow(/--shard-count: shard index 4 is not in 0..3/);
    expect(() => shardFromEnv(4, {})).toThrow(/SLURM_ARRAY_TASK_ID/);
  });

  it("builds metadata through the CLI", async () => {
    writeFileSync(p("words.txt"), "cat\ndog\ncat\n");
    await cli(["curate", "metadata", "--wordlist", p("words.txt"), "--no-numbers", "--output", p("built.json")]);
    expect(JSON.parse(readFileSync(p("built.json"), "utf8"))).toEqual(["cat", "dog"]);
  });

  it("stops on structural errors before writing anything", async () => {
    writeFileSync(p("badmeta.json"), '["a", 1]');
    await expect(cli(["curate", "match", "--metadata", p("badmeta.json"), "--input", p("texts.jsonl"), "--output", p("x/m.jsonl"), "--quiet"]))
      .rejects.toThrow(/badmeta.json: metadata entry at index 1 is not a string/);
    await expect(cli(["curate", "match", "--metadata", p("meta.json"), "--input", p("missing.jsonl"), "--output", p("x/m.jsonl"), "--quiet"]))
      .rejects.toThrow(/missing.jsonl: cannot read \(ENOENT\)/);
    await expect(cli(["curate", "match", "--metadata", p("meta.json"), "--input", p("texts.jsonl"), "--output", p("x/m.jsonl"), "--shard", "3/3"]))
      .rejects.toThrow(/--shard: shard index 3 is not in 0..2/);
    await expect(cli(["curate", "balance", "--metadata", p("meta.json"), "--matches", p("m.jsonl"), "--t", "0", "--output", p("x/b")]))
      .rejects.toThrow(/--t must be a positive number/);
    writeFileSync(p("short.json"), "[1, 2]");
    await expect(cli(["curate", "balance", "--metadata", p("meta.json"), "--matches", p("m.jsonl"), "--t", "5", "--counts", p("short.json"), "--output", p("x/b")]))
      .rejects.toThrow(/short.json: has 2 counts but the metadata has 8 entries/);
    await expect(cli(["curate", "merge-counts", "--inputs", p("m.counts.json"), p("short.json"), "--output", p("x/c.json")]))
      .rejects.toThrow(/short.json: has 2 counts but .*m.counts.json has 8 entries/);
    expect(existsSync(p("x"))).toBe(false);
  });

  it("counts bad lines in a matches file and goes on", async () => {
    writeFileSync(p("badm.jsonl"), ['{"key":"a","entries":[0]}', "nope", '{"key":"b","entries":[99]}', '{"key":"c"}', '{"key":"d","entries":[1,0,1]}', ""].join("\n"));
    await cli(["curate", "balance", "--metadata", p("meta.json"), "--matches", p("badm.jsonl"), "--t", "5", "--output", p("badbal"), "--quiet"]);
    const card = JSON.parse(readFileSync(p("badbal/datacard.json"), "utf8"));
    expect(card.texts.bad).toEqual({ invalidJson: 1, missingKey: 0, badEntries: 2, invalidUtf8: 0 });
    expect(card.texts.in).toBe(2);
    expect(JSON.parse(readFileSync(p("badbal/entry_counts.json"), "utf8")).slice(0, 2)).toEqual([2, 1]); // [1,0,1] counts once each
    expect(readJsonl(p("badbal/kept.jsonl")).map((o) => o.key)).toEqual(["a", "d"]);
  });
});
