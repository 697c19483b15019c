// DFN filtering on hand-built score sidecars: exact top-x% with ties (checked
// against a brute-force rank count), threshold selection, bad sidecar lines,
// the selection honoured by the Loader, row selection for the trusted subset,
// and the shipped DFN configs validate.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { describe, expect, it } from "vitest";
import { loadAblationConfig } from "../../src/ablation/config.js";
import { filterScores } from "../../src/curation/dfn/filter.js";
import { parseCondition, selectRows } from "../../src/curation/dfn/hq.js";
import { scoreSidecarOf, type ScoredRow } from "../../src/curation/dfn/sidecar.js";
import { Loader } from "../../src/data/loader.js";
import { openSelection, ShardSelection } from "../../src/formats/selection.js";
import { ShardWriter } from "../../src/formats/shards.js";
import { loadConfig } from "../../src/train/config.js";
import { Rng } from "../../src/util/hash.js";
import yargs from "yargs";
import { dfnCommands } from "../../src/cli/curate-dfn.js";
import { writeShards, type Row } from "../data/loader-fixtures.js";
import { makeImage } from "../data/fixtures.js";

/** A written selection folder as {shard: rows}. */
const selOf = (dir: string) => (openSelection(dir) as ShardSelection).toRecord();
const tmp = () => mkdtempSync(path.join(os.tmpdir(), "clipts-dfn-filter-"));

/** Write rows as score sidecars, one per shard, lines in a scrambled order. */
function writeSidecars(dir: string, rows: ScoredRow[], extra: Record<string, string[]> = {}): void {
  const byShard = new Map<string, string[]>();
  for (const r of rows) {
    const l = byShard.get(r.shard) ?? [];
    l.push(JSON.stringify(r));
    byShard.set(r.shard, l);
  }
  for (const [s, lines] of byShard) writeFileSync(path.join(dir, scoreSidecarOf(s)), [...lines.reverse(), ...(extra[s] ?? [])].join("\n") + "\n");
}

/** Brute force: a row is kept iff fewer than k rows beat it (higher score, or equal score and earlier shard/row). */
function bruteTop(rows: ScoredRow[], k: number): Set<string> {
  const beats = (b: ScoredRow, a: ScoredRow) => b.score > a.score || (b.score === a.score && (b.shard < a.shard || (b.shard === a.shard && b.row < a.row)));
  return new Set(rows.filter((a) => rows.filter((b) => beats(b, a)).length < k).map((r) => r.key));
}

describe("filterScores", () => {
  it("keeps exactly round(f * N) pairs, ties broken by shard then row", async () => {
    const dir = tmp();
    const s = (shard: string, row: number, score: number): ScoredRow => ({ key: `${shard}:${row}`, shard, row, score });
    // 10 pairs; three tie at 0.3 across shards, and the cut (k = 3) falls inside the tie.
    const rows = [
      s("shard-00001.arrow", 0, 0.3), s("shard-00000.arrow", 4, 0.3), s("shard-00000.arrow", 2, 0.3),
      s("shard-00000.arrow", 0, 0.5), s("shard-00001.arrow", 1, 0.1), s("shard-00000.arrow", 1, -0.2),
      s("shard-00001.arrow", 2, 0.25), s("shard-00000.arrow", 3, 0.05), s("shard-00001.arrow", 3, 0.29), s("shard-00001.arrow", 4, 0.0),
    ];
    writeSidecars(dir, rows);
    const out = path.join(dir, "out");
    const r = await filterScores({ scores: dir, keepTop: 0.3, output: out });
    expect(r.kept).toBe(3);
    expect(selOf(r.files.selection)).toEqual({ "shard-00000.arrow": [0, 2, 4] });
    expect(r.keptPerShard).toEqual({ "shard-00000.arrow": 3 });
    expect(r.threshold).toBe(0.3);
    const keptLines = readFileSync(r.files.kept, "utf8").trim().split("\n").map((l) => JSON.parse(l) as ScoredRow);
    expect(keptLines.map((x) => x.key)).toEqual(["shard-00000.arrow:0", "shard-00000.arrow:2", "shard-00000.arrow:4"]);
    const card = JSON.parse(readFileSync(r.files.datacard, "utf8"));
    expect(card).toMatchObject({ kept: 3, thresholdUsed: 0.3, rule: { keepTop: 0.3 }, pool: { scored: 10 } });
    expect(readFileSync(r.files.plot, "utf8")).toMatch(/^<svg/);
    // 0.4 -> 4: the whole tie plus 0.5.
    expect(selOf((await filterScores({ scores: dir, keepTop: 0.4, output: out })).files.selection)).toEqual({ "shard-00000.arrow": [0, 2, 4], "shard-00001.arrow": [0] });
  });

  it("the CLI command passes its options through (clipts curate filter)", async () => {
    const dir = tmp();
    const rows: ScoredRow[] = [0.9, 0.1, 0.5, 0.7].map((score, i) => ({ key: `k${i}`, shard: "shard-00000.arrow", row: i, score }));
    writeSidecars(dir, rows);
    const out = path.join(dir, "cli");
    await yargs([]).command(dfnCommands).strict().fail((msg, err) => { throw err ?? new Error(msg); })
      .parseAsync(["filter", "--scores", dir, "--keep-top", "0.5", "--output", out]);
    expect(selOf(path.join(out, "selection"))).toEqual({ "shard-00000.arrow": [0, 3] });
  });

  it("matches a brute-force rank count on random pools with many ties", async () => {
    const rng = new Rng(5);
    for (let trial = 0; trial < 4; trial++) {
      const dir = tmp();
      const rows: ScoredRow[] = [];
      const n = 60 + rng.int(80);
      for (let i = 0; i < n; i++) {
        const shard = `shard-${String(rng.int(4)).padStart(5, "0")}.arrow`;
        const row = i; // unique per shard and overall
        rows.push({ key: `r${i}`, shard, row, score: rng.int(7) / 10 - 0.2 }); // 7 distinct values: heavy ties
      }
      writeSidecars(dir, rows);
      for (const f of [0.05, 0.3, 0.5, 1]) {
        const r = await filterScores({ scores: dir, keepTop: f, output: path.join(dir, `o${f}`) });
        const k = Math.round(f * n);
        expect(r.kept).toBe(k);
        const got = new Set(readFileSync(r.files.kept, "utf8").trim().split("\n").filter(Boolean).map((l) => (JSON.parse(l) as ScoredRow).key));
        expect(got).toEqual(bruteTop(rows, k));
      }
    }
  });

  it("the streaming radix passes equal brute force: all-equal scores, -0 and 0, near-equal doubles, a tiny boundary cap", async () => {
    const rng = new Rng(9);
    const values = [0.25, 0.25 + 2 ** -52, 0.25 - 2 ** -54, -0, 0, -0.5, 1e-300, -1e-300, 0.7];
    for (const [trial, pick] of [() => 0.3, () => values[rng.int(values.length)]!, () => rng.int(3) / 4 - 0.25].entries()) {
      const dir = tmp();
      const rows: ScoredRow[] = [];
      for (let i = 0; i < 90; i++) {
        const shard = `shard-${String(rng.int(5)).padStart(5, "0")}.arrow`;
        rows.push({ key: `t${trial}r${i}`, shard, row: rng.int(1000) * 100 + i, score: pick() });
      }
      writeSidecars(dir, rows);
      for (const f of [0.01, 0.2, 0.5, 0.77, 1]) {
        for (const cap of [1, 4, 1 << 20]) {
          const r = await filterScores({ scores: dir, keepTop: f, output: path.join(dir, `o${f}-${cap}`), boundaryCap: cap });
          const k = Math.round(f * rows.length);
          const got = new Set(readFileSync(r.files.kept, "utf8").trim().split("\n").filter(Boolean).map((l) => (JSON.parse(l) as ScoredRow).key));
          expect(got).toEqual(bruteTop(rows, k));
          expect(r.kept).toBe(k);
        }
      }
    }
  });

  it("threshold keeps score >= t; bad sidecar lines are counted, not fatal", async () => {
    const dir = tmp();
    const rows: ScoredRow[] = [0.1, 0.25, 0.25, 0.3, 0.24999].map((score, i) => ({ key: `k${i}`, shard: "shard-00000.arrow", row: i, score }));
    writeSidecars(dir, rows, { "shard-00000.arrow": ["{not json", JSON.stringify({ shard: "shard-00000.arrow", row: 9, key: "x" }), JSON.stringify({ key: "s", shard: "shard-00000.arrow", row: 5, skipped: "decode-error" })] });
    const r = await filterScores({ scores: dir, threshold: 0.25, output: path.join(dir, "o") });
    expect(selOf(r.files.selection)).toEqual({ "shard-00000.arrow": [1, 2, 3] });
    expect(r.threshold).toBe(0.25);
    expect(r.card).toMatchObject({ pool: { scored: 5, skippedByScorer: 1, badSidecarLines: 2 } });
    await expect(filterScores({ scores: dir, output: path.join(dir, "o") })).rejects.toThrow(/exactly one/);
    await expect(filterScores({ scores: dir, keepTop: 1.5, output: path.join(dir, "o") })).rejects.toThrow(/--keep-top/);
    await expect(filterScores({ scores: path.join(dir, "o"), keepTop: 0.5, output: path.join(dir, "o2") })).rejects.toThrow(/no \*\.scores\.jsonl/);
  });

  it("the written selection folder is honoured by the Loader", async () => {
    await tf.setBackend("cpu");
    const sh: Row[][] = [];
    for (let s = 0; s < 2; s++) {
      const rows: Row[] = [];
      for (let i = 0; i < 5; i++) rows.push({ key: `s${s}r${i}`, caption: `caption ${s} ${i}`, image: await makeImage("jpeg", 16, 16, s * 10 + i), width: 16, height: 16 });
      sh.push(rows);
    }
    const dir = tmp();
    mkdirSync(path.join(dir, "shards"));
    const shards = writeShards(sh, path.join(dir, "shards"));
    const scores: ScoredRow[] = [];
    sh.forEach((rows, s) => rows.forEach((r, i) => scores.push({ key: r.key!, shard: `shard-0000${s}.arrow`, row: i, score: ((s * 5 + i) * 7) % 10 / 10 })));
    writeSidecars(dir, scores);
    const r = await filterScores({ scores: dir, keepTop: 0.4, output: path.join(dir, "out") });
    const expected = [...scores].sort((a, b) => b.score - a.score).slice(0, 4).map((x) => x.key).sort();
    const selection = openSelection(r.files.selection);
    const loader = new Loader({ dir: shards, batchSize: 2, mode: "eval", imageSize: 8, workers: 0, contextLength: 4, tokenize: (t) => new Int32Array(t.length * 4), selection });
    const keys: string[] = [];
    for await (const b of loader) {
      keys.push(...b.keys);
      tf.dispose([b.images, b.tokens]);
    }
    expect(keys.sort()).toEqual(expected);
  });
});

describe("selectRows (trusted subset for the filter network)", () => {
  it("keeps rows whose columns pass every condition", async () => {
    const dir = tmp();
    const w = new ShardWriter(path.join(dir, "shards"), { rowsPerShard: 3 });
    await w.start();
    const spec: [string, string][] = [["en", "template"], ["en", "noise"], ["de", "template"], ["en", "tags"], ["und", "noise"], ["en", "template"]];
    for (const [i, [lang, kind]] of spec.entries()) {
      await w.add({ key: `k${i}`, caption: `c${i}`, image: await makeImage("png", 8, 8, i), width: 8, height: 8, lang, extra: { kind } });
    }
    await w.finish();
    const r = await selectRows({ input: path.join(dir, "shards"), where: ["lang=en", "kind!=noise"], output: path.join(dir, "hq"), quiet: true });
    expect(selOf(r.file)).toEqual({ "shard-000000.arrow": [0], "shard-000001.arrow": [0, 2] });
    expect(r.kept).toBe(3);
    expect(r.rows).toBe(6);
    await expect(selectRows({ input: path.join(dir, "shards"), where: ["colour=red"], output: path.join(dir, "hq2") })).rejects.toThrow(/not a column/);
    expect(() => parseCondition("lang")).toThrow(/--where/);
  });
});

describe("DFN configs", () => {
  it("the filter-network training configs and the DFN ablation validate", () => {
    const root = path.resolve(__dirname, "../..");
    const f = loadConfig(path.join(root, "configs/dfn/filter-demo.yaml"));
    expect(f.data.selection).toMatch(/hq\/selection$/);
    loadConfig(path.join(root, "configs/dfn/filter-demo-pool.yaml"));
    const a = loadAblationConfig(path.join(root, "configs/ablations/dfn-demo.yaml"));
    expect(a.variants.map((v) => v.curation)).toEqual(["none", "selection", "selection"]);
  });
});
