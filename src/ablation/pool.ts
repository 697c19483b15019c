// The ablation prep step: the raw pool every variant selects from, the
// metadata (MetaCLIP entries) and, for the demo dataset, a zero-shot image
// folder of the held-out style.
//
// Head-heavy pools: the demo has every concept equally often (3 styles x N
// captions), while web data is dominated by a few head concepts. With
// `pool.replicate`, concept r (rank in a seeded order) gets
// max(1, round(max_copies * r^-zipf)) copies of its rows; each extra copy is a
// new row (key `<key>~<c>`) with the same image and a fresh caption drawn by
// the demo's own caption generator (same languages, templates and ~8% noise).
// The loader's selection is a set (a repeated row id would be read once), so
// the copies are rows of the pool's own shards, built once; the variants
// themselves never copy image bytes, they are selections over these shards.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import path from "node:path";
import { buildDemoShards } from "../data/demo-shards.js";
import { makeCaption } from "../data/demo-captions.js";
import { DEMO_LANGUAGES, loadEmojiNames, type DemoLang, type EmojiEntry } from "../data/demo-sources.js";
import type { DemoRow } from "../data/demo.js";
import { ingest } from "../data/ingest.js";
import { listShards } from "../formats/shards.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { hashUniform } from "../util/hash.js";
import type { AblationConfig } from "./config.js";

/** The demo's noise fraction (DemoOptions default); replicated copies use the same. */
const DEMO_NOISE = 0.08;

export interface PreparedPool {
  /** Shard folder of the raw pool. */
  shards: string;
  rows: number;
  /** Demo folder when the pool comes from the demo. */
  demoDir?: string;
  /** Copies per concept rank (replicated pools): the head-to-tail shape. */
  replication?: { concepts: number; rowsBefore: number; rowsAfter: number; headCopies: number; top10Share: number };
}

function readJsonl<T>(file: string): T[] {
  return readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").map((l, i) => {
    try {
      return JSON.parse(l) as T;
    } catch (err) {
      throw new InputError(`${file}:${i + 1}: not JSON: ${(err as Error).message}`);
    }
  });
}

/** Copies of the concept at 1-based rank r. */
export function zipfCopies(rank: number, zipf: number, maxCopies: number): number {
  return Math.max(1, Math.round(maxCopies * rank ** -zipf));
}

/** Build (or reuse) the demo dataset and its zero-shot folder. */
async function prepareDemo(demo: NonNullable<AblationConfig["pool"]["demo"]>, quiet: boolean): Promise<string> {
  const dir = path.resolve(demo.dir);
  if (!existsSync(path.join(dir, "shards", "train", "manifest.json")) || !existsSync(path.join(dir, "shards", "eval", "manifest.json"))) {
    await buildDemoShards({
      output: dir,
      maxConcepts: demo.max_concepts,
      numClasses: demo.num_classes,
      captionsPerImage: demo.captions_per_image,
      imageSize: demo.image_size,
      seed: demo.seed,
      quiet,
    });
  }
  if (demo.zeroshot_folder) await writeZeroShotFolder(dir);
  return dir;
}

/**
 * DIR/zeroshot/<label>/<key>.png: the labelled eval images as an image folder
 * (folders named by class index), the layout the eval stage's zero-shot task reads.
 */
export async function writeZeroShotFolder(demoDir: string): Promise<string> {
  const out = path.join(demoDir, "zeroshot");
  const done = path.join(out, ".complete");
  if (existsSync(done)) return out;
  const rows = readJsonl<DemoRow>(path.join(demoDir, "eval.jsonl"));
  for (const r of rows) {
    if (r.label === undefined) continue;
    const folder = path.join(out, String(r.label));
    mkdirSync(folder, { recursive: true });
    await copyFile(path.join(demoDir, r.image), path.join(folder, `${r.key}.png`));
  }
  await writeFileAtomic(done, "");
  return out;
}

/** The replicated pool's JSONL rows (absolute image paths) and its shape. */
export function replicateRows(
  rows: DemoRow[],
  demoDir: string,
  rep: NonNullable<AblationConfig["pool"]["replicate"]>,
  names: Map<DemoLang, Map<string, EmojiEntry>>,
): { rows: DemoRow[]; replication: NonNullable<PreparedPool["replication"]> } {
  const concepts = [...new Set(rows.map((r) => r.concept))].sort(
    (a, b) => hashUniform(rep.seed, "zipf-rank", a) - hashUniform(rep.seed, "zipf-rank", b) || (a < b ? -1 : 1),
  );
  const copies = new Map(concepts.map((c, i) => [c, zipfCopies(i + 1, rep.zipf, rep.max_copies)]));
  const out: DemoRow[] = [];
  for (const r of rows) {
    const image = path.resolve(demoDir, r.image);
    out.push({ ...r, image });
    const local: Partial<Record<DemoLang, EmojiEntry>> = {};
    for (const l of DEMO_LANGUAGES) {
      const e = names.get(l)!.get(r.concept);
      if (e) local[l] = e;
    }
    for (let c = 1; c < copies.get(r.concept)!; c++) {
      const key = `${r.key}~${c}`;
      const cap = makeCaption(rep.seed, key, local, DEMO_NOISE);
      out.push({ ...r, key, image, caption: cap.caption, lang: cap.lang, kind: cap.kind });
    }
  }
  // A seeded order spreads the copies over all shards.
  out.sort((a, b) => hashUniform(rep.seed, "pool-order", a.key) - hashUniform(rep.seed, "pool-order", b.key));
  const perConcept = concepts.map((c) => copies.get(c)! * rows.filter((r) => r.concept === c).length);
  const top10 = perConcept.slice(0, 10).reduce((a, b) => a + b, 0);
  return {
    rows: out,
    replication: { concepts: concepts.length, rowsBefore: rows.length, rowsAfter: out.length, headCopies: rep.max_copies, top10Share: top10 / out.length },
  };
}

/** The raw pool: given shards, the demo's train split, or a replicated demo pool under OUT/pool. */
export async function preparePool(cfg: AblationConfig, outDir: string, quiet: boolean): Promise<PreparedPool> {
  if (cfg.pool.shards) {
    const dir = path.resolve(cfg.pool.shards);
    const m = await listShards(dir);
    return { shards: dir, rows: m.rows };
  }
  const demoDir = await prepareDemo(cfg.pool.demo!, quiet);
  const train = path.join(demoDir, "shards", "train");
  const rep = cfg.pool.replicate;
  if (!rep) return { shards: train, rows: (await listShards(train)).rows, demoDir };

  const poolDir = path.join(outDir, "pool");
  const shards = path.join(poolDir, "shards");
  const specFile = path.join(poolDir, "pool.json");
  const spec = { demoDir, replicate: rep };
  if (existsSync(path.join(shards, "manifest.json")) && existsSync(specFile)) {
    const saved = JSON.parse(readFileSync(specFile, "utf8")) as { spec: unknown; replication: PreparedPool["replication"] };
    if (JSON.stringify(saved.spec) === JSON.stringify(spec)) {
      return { shards, rows: (await listShards(shards)).rows, demoDir, replication: saved.replication };
    }
  }
  const names = new Map<DemoLang, Map<string, EmojiEntry>>(DEMO_LANGUAGES.map((l) => [l, loadEmojiNames(l)]));
  const { rows, replication } = replicateRows(readJsonl<DemoRow>(path.join(demoDir, "train.jsonl")), demoDir, rep, names);
  const jsonl = path.join(poolDir, "pool.jsonl");
  await writeFileAtomic(jsonl, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  // The images were checked when the demo was ingested; the copies reuse them.
  const r = await ingest({ input: [jsonl], output: shards, format: "jsonl", rowsPerShard: 1000, decode: false, quiet });
  await writeJsonAtomic(specFile, { spec, replication });
  return { shards, rows: r.manifest.rows, demoDir, replication };
}

/**
 * Metadata for the demo: the English names of every concept in the demo's
 * train split (the class names among them) plus the config's generic words,
 * deduplicated, as a JSON array (MetaCLIP's metadata.json format).
 */
export async function prepareMetadata(cfg: AblationConfig, pool: PreparedPool, outDir: string): Promise<{ file: string; entries: string[] }> {
  const m = cfg.metadata!;
  if (m.file) {
    const { loadMetadata } = await import("../curation/metaclip/metadata.js");
    const file = path.resolve(m.file);
    return { file, entries: await loadMetadata(file) };
  }
  const en = loadEmojiNames("en");
  const rows = readJsonl<DemoRow>(path.join(pool.demoDir!, "train.jsonl"));
  const entries: string[] = [];
  const seen = new Set<string>();
  const add = (s: string) => {
    const e = s.trim();
    if (e !== "" && !seen.has(e)) seen.add(e), entries.push(e);
  };
  for (const hex of [...new Set(rows.map((r) => r.concept))].sort()) {
    const e = en.get(hex);
    if (e) add(e.label);
  }
  const classes = JSON.parse(readFileSync(path.join(pool.demoDir!, "classes.json"), "utf8")) as string[];
  classes.forEach(add);
  m.demo!.generic.forEach(add);
  const file = path.join(outDir, "metadata.json");
  await writeJsonAtomic(file, entries);
  return { file, entries };
}
