// The ablation runner end to end on a tiny real pool: the demo builder's emoji
// PNGs (rendered by sharp) at 16 px, ingested into Arrow shards, Zipf-
// replicated, matched and balanced against real metadata, trained with the
// micro CLIP (real loader, tokenizer, trainer) and evaluated with the eval
// stage's suite. configs/ablations/smoke.yaml is the config, with its paths
// moved to a temporary folder.
import { openSelection, type ShardSelection } from "../../src/formats/selection.js";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateAblationConfig } from "../../src/ablation/config.js";
import { runAblation, type AblationResult } from "../../src/ablation/run.js";
import { stat } from "../../src/ablation/report.js";
import { spaceText } from "../../src/curation/metaclip/matcher.js";
import { listShards, readShard } from "../../src/formats/shards.js";
import { InputError } from "../../src/util/errors.js";

const root = path.resolve(import.meta.dirname, "../..");
let tmp: string;

/** The shipped smoke config with every path inside `dir`. */
function smokeConfig(dir: string): Record<string, unknown> {
  const text = readFileSync(path.join(root, "configs/ablations/smoke.yaml"), "utf8").replaceAll("./runs/ablations/smoke-demo", path.join(dir, "demo"));
  const cfg = parseYaml(text) as Record<string, unknown>;
  cfg.output = path.join(dir, "out");
  return cfg;
}

/** Sample standard deviation, float64, written out independently of report.ts. */
function sampleStd(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.map((x) => (x - m) ** 2).reduce((a, b) => a + b, 0) / (xs.length - 1));
}

/** MetaCLIP's substring test written out literally: " entry " occurs in the spaced caption. */
function naiveMatches(caption: string, entries: string[]): boolean {
  const spaced = spaceText(caption);
  return entries.some((e) => spaced.includes(` ${e} `));
}

async function svgRenders(svg: string): Promise<{ width?: number }> {
  expect(svg.trimStart().startsWith("<svg")).toBe(true);
  expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
  // librsvg (through sharp) parses the XML and draws it: malformed SVG throws.
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  return sharp(png).metadata();
}

describe("runAblation on a tiny demo pool (smoke.yaml)", () => {
  let first: AblationResult;
  const events: string[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), "clipts-ablation-"));
    first = await runAblation(smokeConfig(tmp), { quiet: true, onRun: (e) => events.push(`${e.action} ${e.variant}/${e.seed}`) });
  }, 300_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("trains every variant x seed with the same samples seen and tabulates mean ± std", async () => {
    expect(events).toEqual(["raw/0", "raw/1", "matched/0", "matched/1", "balanced-t2/0", "balanced-t2/1"].map((s) => `ran ${s}`));
    expect(first.rows.map((r) => r.variant)).toEqual(["raw", "matched", "balanced-t2"]);
    expect(first.metrics).toEqual(["zeroshot top1", "retrieval mean_recall@1"]);
    for (const r of first.rows) {
      expect(r.seeds).toEqual([0, 1]);
      expect(r.samplesSeen).toBe(4 * 16);
      for (const m of first.metrics) {
        const vals = first.records.filter((x) => x.variant === r.variant).map((x) => x.metrics[m]!);
        expect(vals).toHaveLength(2);
        for (const v of vals) expect(v).toBeGreaterThanOrEqual(0), expect(v).toBeLessThanOrEqual(1);
        expect(r.metrics[m]!.mean).toBeCloseTo((vals[0]! + vals[1]!) / 2, 12);
        expect(r.metrics[m]!.std).toBeCloseTo(Math.abs(vals[0]! - vals[1]!) / Math.SQRT2, 12);
      }
      const avgs = first.records.filter((x) => x.variant === r.variant).map((x) => x.average);
      expect(r.average.std).toBeCloseTo(sampleStd(avgs), 12);
    }
    // The data changes, the training does not: one config per run except data selection and seed.
    const losses = first.records.map((x) => x.finalLoss);
    expect(losses.every(Number.isFinite)).toBe(true);
  });

  it("raw = the whole pool, matched = rows whose caption contains a metadata entry, balanced ⊆ matched", async () => {
    const poolDir = path.join(first.outDir, "pool", "shards");
    const manifest = await listShards(poolDir);
    const raw = first.rows.find((r) => r.variant === "raw")!;
    expect(raw.poolSize).toBe(manifest.rows);
    // Zipf replication: 24 concepts x 3 styles x 1 caption, the head concept copied 4 times.
    expect(manifest.rows).toBeGreaterThan(72);

    const entries = JSON.parse(readFileSync(path.join(first.outDir, "metadata.json"), "utf8")) as string[];
    expect(entries).toEqual(expect.arrayContaining(["face", "emoji", "animal"]));
    const sel = (v: string) => (openSelection(path.join(first.outDir, "variants", v, "selection")) as ShardSelection).toRecord();
    const matched = sel("matched");
    const balanced = sel("balanced-t2");
    let nMatched = 0;
    let noise = 0;
    for (const s of manifest.shards) {
      const m = new Set(matched[s.file] ?? []);
      for await (const { row, sample } of readShard(path.join(poolDir, s.file))) {
        const hit = naiveMatches(sample.caption, entries);
        expect(m.has(row), `${sample.key}: ${sample.caption}`).toBe(hit);
        if (hit) nMatched++;
        if (/^(IMG_\d+\.JPG|untitled|placeholder|DSC\d+)$/.test(sample.caption)) {
          noise++;
          expect(m.has(row)).toBe(false);
        }
      }
      for (const r of balanced[s.file] ?? []) expect(m.has(r)).toBe(true);
    }
    expect(noise).toBeGreaterThan(0); // the pool has noise captions, and none was selected
    expect(first.rows.find((r) => r.variant === "matched")!.poolSize).toBe(nMatched);
    expect(nMatched).toBeLessThan(manifest.rows);
    const bal = first.rows.find((r) => r.variant === "balanced-t2")!;
    expect(bal.poolSize).toBeLessThan(nMatched);
    // The data card agrees with the selection and with its own expectation (within 4 sd).
    const card = JSON.parse(readFileSync(path.join(first.outDir, "variants", "balanced-t2", "datacard.json"), "utf8"));
    expect(card.texts.kept).toBe(bal.poolSize);
    expect(card.texts.matched).toBe(nMatched);
    expect(Math.abs(card.texts.kept - card.texts.expectedKept)).toBeLessThanOrEqual(4 * card.texts.expectedKeptSd + 1);
  });

  it("writes the Markdown and CSV tables, valid SVG charts and a self-contained HTML report", async () => {
    const csv = readFileSync(first.files.csv, "utf8").trim().split("\n");
    expect(csv[0]).toBe(
      "variant,pool_size,samples_seen,seeds,zeroshot top1_mean,zeroshot top1_std,retrieval mean_recall@1_mean,retrieval mean_recall@1_std,average_mean,average_std",
    );
    expect(csv.slice(1).map((l) => l.split(",")[0])).toEqual(["raw", "matched", "balanced-t2"]);
    for (const [i, line] of csv.slice(1).entries()) {
      const c = line.split(",");
      const row = first.rows[i]!;
      expect(Number(c[1])).toBe(row.poolSize);
      expect(Number(c[2])).toBe(64);
      expect(c[3]).toBe("0 1");
      const recs = first.records.filter((x) => x.variant === row.variant);
      expect(Number(c[8])).toBeCloseTo(recs.reduce((a, x) => a + x.average, 0) / 2, 12);
      expect(Number(c[9])).toBeCloseTo(sampleStd(recs.map((x) => x.average)), 12);
    }

    const md = readFileSync(first.files.markdown, "utf8").split("\n").filter((l) => l.startsWith("|"));
    expect(md).toHaveLength(2 + 3);
    expect(md[0]).toBe("| variant | pool size | samples seen | seeds | zeroshot top1 (%) | retrieval mean_recall@1 (%) | average (%) |");
    const raw = first.rows[0]!;
    const z = raw.metrics["zeroshot top1"]!;
    expect(md[2]).toContain(`| raw | ${raw.poolSize} | 64 | 2 | ${(100 * z.mean).toFixed(2)} ± ${(100 * z.std).toFixed(2)} |`);

    expect(first.files.charts.map((f) => path.basename(f))).toEqual(["zeroshot_top1.svg", "retrieval_mean_recall_1.svg", "average.svg"]);
    for (const f of [...first.files.charts, first.files.loss!, path.join(first.outDir, "variants/balanced-t2/entry_counts.svg")]) {
      const meta = await svgRenders(readFileSync(f, "utf8"));
      expect(meta.width).toBeGreaterThan(100);
    }
    // One bar per variant in each chart.
    expect(readFileSync(first.files.charts[2]!, "utf8").match(/<rect x="[^"]+" y="[^"]+" width="[^"]+" height="[^"]+" fill="#1f77b4"><title>/g)).toHaveLength(3);

    const html = readFileSync(first.files.html, "utf8");
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html.match(/<svg /g)).toHaveLength(3 + 1 + 1); // metric charts, loss curves, one data card
    expect(html).toContain("<td>balanced-t2</td>");
    expect(html).toContain("datacard.json");
    expect(html).not.toMatch(/(src|href)=["']?(https?:|\/|\.)/);
  });

  it("re-running skips finished variants and re-runs only a missing one", async () => {
    const again: string[] = [];
    const r2 = await runAblation(smokeConfig(tmp), { quiet: true, onRun: (e) => again.push(`${e.action} ${e.variant}/${e.seed}`) });
    expect(r2.ran).toEqual([]);
    expect(r2.skipped).toHaveLength(6);
    expect(again.every((e) => e.startsWith("skipped "))).toBe(true);
    expect(r2.rows).toEqual(first.rows);

    rmSync(path.join(first.outDir, "runs", "matched", "seed-1", "result.json"));
    const r3 = await runAblation(smokeConfig(tmp), { quiet: true });
    expect(r3.ran).toEqual(["matched/seed-1"]);
    expect(r3.skipped).toHaveLength(5);
    const log = readFileSync(path.join(first.outDir, "ablation.log"), "utf8");
    expect(log.match(/raw\/seed-0: done before, skipped/g)).toHaveLength(2);
    // Checkpoints are deleted once a run is evaluated (keep_checkpoints: false).
    expect(existsSync(path.join(first.outDir, "runs", "raw", "seed-0", "ckpt"))).toBe(false);
  }, 120_000);

  it("the CLI runs the same library call (everything done: all skipped) and exits 2 naming a bad key", () => {
    const cfgFile = path.join(tmp, "smoke.yaml");
    writeFileSync(cfgFile, stringifyYaml(smokeConfig(tmp)));
    const cli = ["--import", "tsx", path.join(root, "src/cli/main.ts"), "ablate"];
    const ok = spawnSync(process.execPath, [...cli, "--config", cfgFile, "--quiet"], { cwd: root, encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("| balanced-t2 |");
    expect(ok.stdout).toContain("0 run(s) trained, 6 skipped");
    const bad = smokeConfig(tmp);
    (bad.run as { train: Record<string, unknown> }).train.steps = -1;
    writeFileSync(cfgFile, stringifyYaml(bad));
    const r = spawnSync(process.execPath, [...cli, "--config", cfgFile, "--quiet"], { cwd: root, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("run.train.steps");
  }, 60_000);
});

describe("ablation config errors", () => {
  const base = () => smokeConfig("/nonexistent-ablation");

  it("names the key path of every problem, before any work", async () => {
    const bad = base();
    (bad.variants as Record<string, unknown>[])[2] = { name: "balanced", curation: "balance" };
    (bad.run as { train: Record<string, unknown> }).train.lr = "fast";
    (bad.pool as Record<string, unknown>).colour = "blue";
    let err: unknown;
    try {
      validateAblationConfig(bad, "x.yaml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).toContain("variants.2.t");
    expect(msg).toContain("run.train.lr: expected number, got string");
    expect(msg).toContain("pool.colour: unknown key");
    // runAblation fails the same way without creating its output folder.
    await expect(runAblation(bad, { quiet: true })).rejects.toThrow(/variants\.2\.t/);
    expect(existsSync("/nonexistent-ablation")).toBe(false);
  });

  it("rejects cross-field mistakes with the key", () => {
    const dup = base();
    (dup.variants as Record<string, unknown>[])[1] = { name: "raw", curation: "match" };
    expect(() => validateAblationConfig(dup)).toThrow(/variants\[1\]\.name: duplicate variant name "raw"/);
    const seed = base();
    (seed.run as { train: Record<string, unknown> }).train.seed = 3;
    expect(() => validateAblationConfig(seed)).toThrow(/run\.train\.seed: not allowed/);
    const noMeta = base();
    delete noMeta.metadata;
    expect(() => validateAblationConfig(noMeta)).toThrow(/metadata: required by variants\[1\]/);
    const pool = base();
    pool.pool = { shards: "a", demo: { dir: "b" } };
    expect(() => validateAblationConfig(pool)).toThrow(/pool\.shards: give exactly one of pool\.shards or pool\.demo/);
  });

  it("the shipped configs validate", () => {
    for (const f of ["smoke.yaml", "metaclip-table.yaml"]) {
      expect(() => validateAblationConfig(parseYaml(readFileSync(path.join(root, "configs/ablations", f), "utf8")), f)).not.toThrow();
    }
  });

  it("stat: mean and sample std against a hand computation", () => {
    const s = stat([1, 2, 3, 4]);
    expect(s.mean).toBe(2.5);
    expect(s.std).toBeCloseTo(Math.sqrt(5 / 3), 14);
    expect(stat([0.7]).std).toBe(0);
  });
});
