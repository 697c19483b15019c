// MetaCLIP matching and balancing on Arrow shards: sidecars keyed by shard and
// row, a selection the loader honours, and the same kept set as the JSONL path.
import { describe, expect, it, beforeAll } from "vitest";
import { existsSync, mkdtempSync, readFileSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { matchShards, sidecarsIn, sidecarOf } from "../../src/curation/metaclip/shard-match.js";
import { balanceFile } from "../../src/curation/metaclip/balance-file.js";
import { matchFile } from "../../src/curation/metaclip/match-file.js";
import { buildMatcher } from "../../src/curation/metaclip/matcher.js";
import { mergeCountFiles, readCounts } from "../../src/curation/metaclip/counts.js";
import { Loader } from "../../src/data/loader.js";
import { openSelection, type ShardSelection } from "../../src/formats/selection.js";
import { writeShards, charTokenize, type Row } from "../data/loader-fixtures.js";
import { makeImage } from "../data/fixtures.js";

const METADATA = ["cat", "dog", "red", "new york", "york", "photo"];
const WORDS = ["cat", "dog", "red", "new", "york", "a", "photo", "of", "IMG_0001.JPG"];

let shardsDir: string;
let rows: { key: string; caption: string; shard: string; row: number }[] = [];
const work = mkdtempSync(path.join(tmpdir(), "clipts-shardcur-"));
const metaFile = path.join(work, "metadata.json");

beforeAll(async () => {
  tf.setBackend("cpu");
  writeFileSync(metaFile, JSON.stringify(METADATA));
  const shards: Row[][] = [];
  let seed = 1;
  for (let s = 0; s < 3; s++) {
    const shard: Row[] = [];
    for (let r = 0; r < 20; r++) {
      // Head-heavy captions: "photo" in most, the rest spread out.
      const n = 1 + ((seed * 7) % 4);
      const caption = Array.from({ length: n }, (_, j) => WORDS[(seed * 13 + j * 5 + r) % WORDS.length]).join(" ") + (r % 3 ? " photo" : "");
      seed++;
      const key = `s${s}-r${r}`;
      shard.push({ key, caption, image: await makeImage("png", 8, 8, seed), width: 8, height: 8 });
      rows.push({ key, caption, shard: `shard-${String(s).padStart(5, "0")}.arrow`, row: r });
    }
    shards.push(shard);
  }
  // A row without a caption: matches nothing, counted as bad.
  shards[1]![4] = { ...shards[1]![4]!, caption: null };
  rows = rows.filter((r) => r.key !== "s1-r4");
  shardsDir = writeShards(shards);
});

describe("curation on shards", () => {
  it("writes sidecars keyed by shard and row that equal the matcher's output", async () => {
    const out = path.join(work, "m1");
    const r = await matchShards({ metadata: metaFile, shards: shardsDir, output: out, quiet: true });
    expect(r.stats).toMatchObject({ shards: 3, rows: 60, badRows: 1 });
    const matcher = buildMatcher(METADATA);
    const lines = (await sidecarsIn(out)).flatMap((f) => readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l)));
    expect(lines.map((l) => l.key)).toEqual(rows.map((x) => x.key));
    for (const [i, l] of lines.entries()) {
      expect(l.shard).toBe(rows[i]!.shard);
      expect(l.row).toBe(rows[i]!.row);
      expect(l.entries).toEqual(Array.from(matcher.match(rows[i]!.caption)));
    }
    const expected = new Array(METADATA.length).fill(0);
    for (const l of lines) for (const e of l.entries) expected[e]++;
    expect(Array.from(r.counts)).toEqual(expected);
  });

  it("splits into job-array parts whose merged counts equal the whole", async () => {
    const whole = await matchShards({ metadata: metaFile, shards: shardsDir, output: path.join(work, "whole"), quiet: true });
    const parts = path.join(work, "parts");
    const a = await matchShards({ metadata: metaFile, shards: shardsDir, output: parts, shard: { index: 0, count: 2 }, quiet: true });
    const b = await matchShards({ metadata: metaFile, shards: shardsDir, output: parts, shard: { index: 1, count: 2 }, quiet: true });
    expect(a.stats.shards + b.stats.shards).toBe(3);
    const merged = await mergeCountFiles([a.countsFile, b.countsFile], path.join(parts, "global.json"));
    expect(Array.from(merged)).toEqual(Array.from(whole.counts));
    expect(readdirSync(parts).filter((f) => f.endsWith(".matches.jsonl")).sort()).toEqual(
      ["shard-00000.arrow", "shard-00001.arrow", "shard-00002.arrow"].map(sidecarOf),
    );
  });

  it("balances into a selection the loader honours, keeping what the JSONL path keeps", async () => {
    const m = path.join(work, "m2");
    await matchShards({ metadata: metaFile, shards: shardsDir, output: m, quiet: true });
    const t = 5;
    const bal = await balanceFile({ metadata: metaFile, matches: await sidecarsIn(m), t, seed: 3, output: path.join(work, "bal"), quiet: true });
    const kept = readFileSync(bal.files.kept, "utf8").trim().split("\n").map((l) => JSON.parse(l).key as string);
    // Balancing really dropped head rows but kept some of every matched entry.
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(bal.text.matched);

    // The same matches as one JSONL of {key, entries} give the same kept keys.
    const jsonl = path.join(work, "all.matches.jsonl");
    writeFileSync(jsonl, (await sidecarsIn(m)).map((f) => readFileSync(f, "utf8")).join(""));
    const viaJsonl = await balanceFile({ metadata: metaFile, matches: jsonl, t, seed: 3, output: path.join(work, "bal2"), quiet: true });
    expect(readFileSync(viaJsonl.files.kept, "utf8")).toBe(readFileSync(bal.files.kept, "utf8"));
    expect(Array.from(await readCounts(bal.files.counts))).toEqual(Array.from(await readCounts(viaJsonl.files.counts)));

    // The selection folder: row ids per shard file of exactly the kept keys.
    const selection = openSelection(bal.files.selection!) as ShardSelection;
    const selected = selection.shards().flatMap((shard) => [...selection.rows(shard)].map((r) => rows.find((x) => x.shard === shard && x.row === r)!.key));
    expect(selected.sort()).toEqual([...kept].sort());
    // The data card carries the shard folder's match statistics (match_stats.json).
    const card = JSON.parse(readFileSync(bal.files.datacard, "utf8")) as { matchStage?: { rows?: number; badRows?: number; shards?: number } };
    expect(card.matchStage).toMatchObject({ shards: 3, rows: 60, badRows: 1 });

    // The loader reads exactly those rows, once each per epoch.
    const loader = new Loader({ dir: shardsDir, batchSize: 1, tokenize: charTokenize(8), contextLength: 8, imageSize: 8, mode: "eval", workers: 0, epochs: 1, selection });
    const seen: string[] = [];
    for await (const b of loader) {
      seen.push(...b.keys);
      tf.dispose([b.images, b.tokens]);
    }
    await loader.close();
    expect(seen.sort()).toEqual([...kept].sort());
  });

  it("refuses matches made against other metadata (same length, other entries) before writing anything", async () => {
    const m = path.join(work, "m3");
    await matchShards({ metadata: metaFile, shards: shardsDir, output: m, quiet: true });
    const other = path.join(work, "other-metadata.json");
    writeFileSync(other, JSON.stringify([...METADATA].reverse()));
    const out = path.join(work, "bal-other");
    await expect(balanceFile({ metadata: other, matches: m, t: 5, seed: 3, output: out, quiet: true })).rejects.toThrow(
      new RegExp(`match_complete\\.json: matched against other metadata \\(${metaFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}.*than ${other.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
    );
    expect(existsSync(out)).toBe(false);
    // The same metadata balances; so does the JSONL path, which is checked the same way.
    await balanceFile({ metadata: metaFile, matches: m, t: 5, seed: 3, output: path.join(work, "bal-same"), quiet: true });
    const texts = path.join(work, "texts.jsonl");
    writeFileSync(texts, rows.map((r) => JSON.stringify({ key: r.key, text: r.caption })).join("\n") + "\n");
    const mf = await matchFile({ metadata: metaFile, input: texts, output: path.join(work, "texts.matches.jsonl"), workers: 1, quiet: true });
    await expect(balanceFile({ metadata: other, matches: mf.output, t: 5, seed: 3, output: out, quiet: true })).rejects.toThrow(/matched against other metadata/);
    expect(existsSync(out)).toBe(false);
  });
});
