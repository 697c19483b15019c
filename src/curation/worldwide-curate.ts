// Worldwide curation over a shard folder: match each caption with its own
// language's metadata (languages from langid sidecars), count matches per
// language, derive per-language thresholds from English's tail share, balance
// each language with its threshold, and write the kept rows as a loader
// selection ({shard file: row ids}). Optionally also an upsampled selection.
//
// Outputs in `output`:
//   <shard>.wmatches.jsonl   {key, shard, row, lang, entries} per readable row
//   entry_counts.<lang>.json per-language entry counts
//   thresholds.json          {reference, tRef, p, t: {lang: t}, empty}
//   selection.json           balanced rows {shard file: row ids}
//   worldwide_stats.json     rows / matched / kept per language
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { upsampleSelection, upsampleWeights, type UpsampleWeights } from "../data/upsample.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { readJsonl } from "../util/jsonl.js";
import { balanceKeep } from "./balance.js";
import { writeCounts } from "./counts.js";
import { langOf, readLangSidecars } from "./langid.js";
import { writeShardSidecars } from "./shard-sidecars.js";
import { loadWorldwideMetadata, WorldwideMatcher } from "./worldwide-match.js";
import { worldwideThresholds, type WorldwideThresholds } from "./worldwide-thresholds.js";

export interface WorldwideCurateOptions {
  /** {lang: [entries]} JSON file or folder of <lang>.json. */
  metadata: string;
  shards: string;
  /** Folder of `<shard>.lang.jsonl` sidecars (clipts curate langid). */
  langs: string;
  output: string;
  /** Threshold of the reference language (MetaCLIP: 20000 for en at 400M). */
  tEn: number;
  reference?: string;
  seed: number;
  /** Rows whose langid confidence is below this are treated as "und" (matched by nothing). */
  minConfidence?: number;
  quiet?: boolean;
}

export interface LangStats {
  rows: number;
  matched: number;
  kept: number;
}

export interface WorldwideCurateResult {
  thresholds: WorldwideThresholds;
  counts: Record<string, Float64Array>;
  selection: Record<string, number[]>;
  /** Kept rows with their language (for upsampling). */
  kept: { shard: string; row: number; key: string; lang: string }[];
  perLang: Record<string, LangStats>;
  files: { selection: string; thresholds: string; stats: string; sidecars: string[] };
}

export async function worldwideCurate(o: WorldwideCurateOptions): Promise<WorldwideCurateResult> {
  if (!(o.tEn > 0) || !Number.isFinite(o.tEn)) throw new InputError(`--t-en must be a positive number, got ${o.tEn}`);
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new InputError(`--seed must be a non-negative integer, got ${o.seed}`);
  const reference = o.reference ?? "en";
  const metadata = await loadWorldwideMetadata(o.metadata);
  if (!metadata[reference]) throw new InputError(`${o.metadata}: no metadata for the reference language "${reference}"`);
  const { table } = await readLangSidecars(o.langs, { minConfidence: o.minConfidence });
  const matcher = new WorldwideMatcher(metadata);
  const counts: Record<string, Float64Array> = {};
  for (const [l, e] of Object.entries(metadata)) counts[l] = new Float64Array(e.length);
  const perLang: Record<string, LangStats> = {};
  const stat = (l: string) => (perLang[l] ??= { rows: 0, matched: 0, kept: 0 });

  // Pass 1: match, write sidecars, count.
  const { sidecars } = await writeShardSidecars({
    shards: o.shards, output: o.output, label: "worldwide match", quiet: o.quiet,
    sidecarName: (f) => `${path.basename(f, ".arrow")}.wmatches.jsonl`,
    line: (row, sample, shard) => {
      const lang = langOf(table, shard, row);
      const ids = matcher.match(sample.caption, lang);
      const c = counts[lang];
      if (c) for (const e of ids) c[e]!++;
      stat(lang).rows++;
      if (ids.length > 0) stat(lang).matched++;
      return `${JSON.stringify({ key: sample.key, shard, row, lang, entries: Array.from(ids) })}\n`;
    },
  });

  const thresholds = worldwideThresholds(counts, o.tEn, reference);

  // Pass 2: balance each language with its own counts and threshold.
  const selection: Record<string, number[]> = {};
  const kept: WorldwideCurateResult["kept"] = [];
  for (const f of sidecars) {
    for await (const { value, error } of readJsonl(f)) {
      if (error) continue;
      const v = value as { key: string; shard: string; row: number; lang: string; entries: number[] };
      const t = thresholds.t[v.lang];
      if (t === undefined || v.entries.length === 0) continue;
      if (!balanceKeep(v.key, v.entries, counts[v.lang]!, t, o.seed)) continue;
      (selection[v.shard] ??= []).push(v.row);
      kept.push({ shard: v.shard, row: v.row, key: v.key, lang: v.lang });
      stat(v.lang).kept++;
    }
  }
  for (const [l, c] of Object.entries(counts)) await writeCounts(path.join(o.output, `entry_counts.${l}.json`), c);
  const files = {
    selection: path.join(o.output, "selection.json"),
    thresholds: path.join(o.output, "thresholds.json"),
    stats: path.join(o.output, "worldwide_stats.json"),
    sidecars,
  };
  await writeJsonAtomic(files.thresholds, thresholds);
  await writeJsonAtomic(files.selection, selection);
  await writeJsonAtomic(files.stats, { metadata: o.metadata, shards: o.shards, langs: o.langs, tEn: o.tEn, seed: o.seed, perLang });
  return { thresholds, counts, selection, kept, perLang, files };
}

export interface UpsampleWorldwideOptions {
  /** Output folder of worldwideCurate (selection.json + *.wmatches.jsonl). */
  matches: string;
  /** Target share per named language, e.g. WEBLI_TARGETS. */
  targets: Record<string, number>;
  output: string;
  seed: number;
  epoch: number;
}

/**
 * Raise named languages of a worldwide-curated selection to target shares
 * (src/data/upsample.ts semantics); writes upsample_weights.json and the
 * thinned selection.json of one epoch.
 */
export async function upsampleWorldwide(o: UpsampleWorldwideOptions): Promise<{ weights: UpsampleWeights; selection: Record<string, number[]> }> {
  const selFile = path.join(o.matches, "selection.json");
  if (!existsSync(selFile)) throw new InputError(`--matches ${o.matches}: no selection.json (run \`clipts curate worldwide\` first)`);
  let sel: Record<string, number[]>;
  try {
    sel = JSON.parse(await fs.readFile(selFile, "utf8")) as Record<string, number[]>;
  } catch (err) {
    throw new InputError(`${selFile}: not valid JSON (${(err as Error).message})`);
  }
  const keep = new Map(Object.entries(sel).map(([f, rows]) => [f, new Set(rows)]));
  const rows: { shard: string; row: number; key: string; lang: string }[] = [];
  for (const f of (await fs.readdir(o.matches)).filter((n) => n.endsWith(".wmatches.jsonl")).sort()) {
    for await (const { value, error } of readJsonl(path.join(o.matches, f))) {
      const v = value as { key: string; shard: string; row: number; lang: string };
      if (!error && keep.get(v.shard)?.has(v.row)) rows.push(v);
    }
  }
  const counts: Record<string, number> = {};
  for (const r of rows) counts[r.lang] = (counts[r.lang] ?? 0) + 1;
  const weights = upsampleWeights(counts, o.targets);
  const selection = upsampleSelection(rows, weights, o.seed, o.epoch);
  await writeJsonAtomic(path.join(o.output, "upsample_weights.json"), { targets: o.targets, ...weights });
  await writeJsonAtomic(path.join(o.output, "selection.json"), selection);
  return { weights, selection };
}
