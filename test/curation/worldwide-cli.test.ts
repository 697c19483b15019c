// The worldwide CLI commands (as the lead registers them under `curate`):
// langid -> worldwide -> upsample on tiny shards, outputs that the library
// functions reproduce.
import { openSelection, type ShardSelection } from "../../src/formats/selection.js";
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import yargs from "yargs";
import { parseTargets, worldwideCommands } from "../../src/cli/curate-worldwide.js";
import { upsampleSelection, upsampleWeights } from "../../src/curation/worldwide/upsample.js";
import { writeShards, type Row } from "../data/loader-fixtures.js";

async function cli(args: string[]): Promise<void> {
  await yargs(args).command("curate", "", (y) => y.command(worldwideCommands).demandCommand()).strict().exitProcess(false).fail((msg, err) => { throw err ?? new Error(msg); }).parseAsync();
}

describe("curate langid / worldwide / upsample", () => {
  it("runs the pipeline and writes selections", async () => {
    const caps = [
      "a photo of a black cat", "a dog in the garden", "a cat and a dog", "a red car", "a cat on a car",
      "Ein Foto von einer schwarzen Katze", "Eine Katze und ein Hund im Garten", "一只黑猫坐在沙发上的照片", "花园里的猫和狗在玩耍",
    ];
    const rows: Row[] = caps.map((c, i) => ({ key: `k${i}`, caption: c, image: new Uint8Array([1]), width: 1, height: 1 }));
    const dir = writeShards([rows.slice(0, 4), rows.slice(4)]);
    const work = mkdtempSync(path.join(tmpdir(), "clipts-wwcli-"));
    await cli(["curate", "worldwide-demo-metadata", "--output", path.join(work, "demo-meta.json")]);
    const demoMeta = JSON.parse(readFileSync(path.join(work, "demo-meta.json"), "utf8"));
    expect(Object.keys(demoMeta)).toEqual(["en", "de", "fr", "es", "ja", "zh"]);
    expect(demoMeta.en).toContain("cat face");
    const meta = path.join(work, "meta.json");
    writeFileSync(meta, JSON.stringify({ en: ["cat", "dog", "car", "black cat"], de: ["Katze", "Hund"], zh: ["猫", "狗"] }));
    await cli(["curate", "langid", "--input", dir, "--output", path.join(work, "langs"), "--quiet"]);
    expect(readdirSync(path.join(work, "langs")).sort()).toEqual(["lang_stats.json", "shard-00000.lang.jsonl", "shard-00001.lang.jsonl"]);
    await cli(["curate", "worldwide", "--metadata", meta, "--input", dir, "--langs", path.join(work, "langs"), "--output", path.join(work, "bal"), "--t-en", "2", "--quiet"]);
    const th = JSON.parse(readFileSync(path.join(work, "bal", "thresholds.json"), "utf8"));
    expect(th.t.en).toBe(2);
    const sel = (openSelection(path.join(work, "bal", "selection")) as ShardSelection).toRecord();
    await cli(["curate", "upsample", "--matches", path.join(work, "bal"), "--targets", "zh=0.3", "--output", path.join(work, "up"), "--seed", "3"]);
    const up = (openSelection(path.join(work, "up", "selection")) as ShardSelection).toRecord();
    // Reproduce with the library from the matches sidecars.
    const kept: { shard: string; row: number; key: string; lang: string }[] = [];
    for (const f of readdirSync(path.join(work, "bal")).filter((n) => n.endsWith(".wmatches.jsonl")).sort()) {
      for (const l of readFileSync(path.join(work, "bal", f), "utf8").trim().split("\n").map((x) => JSON.parse(x))) {
        if (sel[l.shard]?.includes(l.row)) kept.push(l);
      }
    }
    const counts: Record<string, number> = {};
    for (const k of kept) counts[k.lang] = (counts[k.lang] ?? 0) + 1;
    expect(counts.zh).toBeGreaterThan(0);
    expect(up).toEqual(upsampleSelection(kept, upsampleWeights(counts, { zh: 0.3 }), 3));
  });

  it("parses targets and rejects bad ones", () => {
    expect(parseTargets("bn=0.01, hi=0.02")).toEqual({ bn: 0.01, hi: 0.02 });
    expect(Object.keys(parseTargets("webli"))).toHaveLength(7);
    expect(() => parseTargets("bn:0.01")).toThrow(/"bn:0.01" is not lang=share/);
  });
});
