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
//   selection/               balanced rows (the selection folder, src/formats/selection.ts)
//   worldwide_stats.json     rows / matched / kept per language
// A job array (--shard i/n) runs two phases: "match" on every part writes its
// sidecars, entry_counts.<lang>.i-of-n.json and worldwide_match.i-of-n.json;
// then "balance" on every part sums all parts' counts (the same thresholds
// everywhere) and writes selection-i-of-n/ and worldwide_stats.i-of-n.json.
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { upsampleSelection, upsampleWeights, type UpsampleWeights } from "./upsample.js";
import { writeJsonAtomic } from "../../util/atomic.js";
import { openSelection, SelectionWriter, type ShardSelection } from "../../formats/selection.js";
import { InputError } from "../../util/errors.js";
import { readJsonl } from "../../util/jsonl.js";
import { balanceKeep, mergeCounts } from "../metaclip/balance.js";
import { readCounts, writeCounts } from "../metaclip/counts.js";
import { LangSidecars } from "./langid.js";
import { shardSuffix, writeShardSidecars } from "../shard-sidecars.js";
import { shardPath, type ShardSpec } from "../../util/job-array.js";
import { shardStem } from "../../formats/webdataset.js";
import { loadWorldwideMetadata, WorldwideMatcher } from "./match.js";
import { worldwideThresholds, type WorldwideThresholds } from "./thresholds.js";

export interface WorldwideCurateOptions {
  /** {lang: [entries]} JSON file or folder of <lang>.json. */
  metadata: string;
  /** Shard folder (manifest.json) or webdataset tars read in place. */
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
  /**
   * Job-array part i/n: "match" matches shards i, i+n, ... and writes this
   * part's counts (`entry_counts.<lang>.i-of-n.json`); once every part has,
   * "balance" sums all parts' counts into the thresholds and balances this
   * part's sidecars into `selection-i-of-n` (join the parts with `data
   * merge-selections`). Without a part, one process does both.
   */
  shard?: ShardSpec;
  phase?: "match" | "balance";
  quiet?: boolean;
}

export interface LangStats {
  rows: number;
  matched: number;
  kept: number;
}

export interface WorldwideCurateResult {
  /** Absent after a "match" phase (thresholds need every part's counts). */
  thresholds?: WorldwideThresholds;
  counts: Record<string, Float64Array>;
  /** Kept rows per shard file (the rows are in the selection folder, files.selection). */
  keptPerShard: Record<string, number>;
  perLang: Record<string, LangStats>;
  files: { selection?: string; thresholds?: string; stats: string; sidecars: string[] };
}

/** This part's pass-1 record: its sidecars and per-language row counts, for its balance phase. */
const matchRecord = (shard?: ShardSpec) => `worldwide_match${shardSuffix(shard)}.json`;
const countsFile = (lang: string, shard?: ShardSpec) => `entry_counts.${lang}${shardSuffix(shard)}.json`;

export async function worldwideCurate(o: WorldwideCurateOptions): Promise<WorldwideCurateResult> {
  if (!(o.tEn > 0) || !Number.isFinite(o.tEn)) throw new InputError(`--t-en must be a positive number, got ${o.tEn}`);
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new InputError(`--seed must be a non-negative integer, got ${o.seed}`);
  if (o.phase !== undefined && !o.shard) throw new InputError(`--phase ${o.phase} is for a job-array part: give --shard i/n`);
  if (o.shard && o.phase === undefined) throw new InputError("--shard needs --phase match (every part), then --phase balance (every part)");
  const reference = o.reference ?? "en";
  const metadata = await loadWorldwideMetadata(o.metadata);
  if (!metadata[reference]) throw new InputError(`${o.metadata}: no metadata for the reference language "${reference}"`);
  const perLang: Record<string, LangStats> = {};
  const stat = (l: string) => (perLang[l] ??= { rows: 0, matched: 0, kept: 0 });
  let counts: Record<string, Float64Array> = {};
  for (const [l, e] of Object.entries(metadata)) counts[l] = new Float64Array(e.length);
  let sidecars: string[];

  if (o.phase !== "balance") {
    // Pass 1: match, write sidecars, count.
    const langs = await LangSidecars.open(o.langs, { minConfidence: o.minConfidence });
    const matcher = new WorldwideMatcher(metadata);
    ({ sidecars } = await writeShardSidecars({
      shards: o.shards, output: o.output, shard: o.shard, label: "worldwide match", quiet: o.quiet,
      sidecarName: (f) => `${shardStem(f)}.wmatches.jsonl`,
      lines: (rows, shard) => {
        let out = "";
        for (const { row, sample } of rows) {
          const lang = langs.langOf(shard, row);
          const ids = matcher.match(sample.caption, lang);
          const c = counts[lang];
          if (c) for (const e of ids) c[e]!++;
          stat(lang).rows++;
          if (ids.length > 0) stat(lang).matched++;
          out += `${JSON.stringify({ key: sample.key, shard, row, lang, entries: Array.from(ids) })}\n`;
        }
        return out;
      },
    }));
    for (const [l, c] of Object.entries(counts)) await writeCounts(path.join(o.output, countsFile(l, o.shard)), c);
    if (o.phase === "match") {
      const stats = path.join(o.output, matchRecord(o.shard));
      await writeJsonAtomic(stats, { sidecars: sidecars.map((f) => path.basename(f)), perLang });
      return { counts, keptPerShard: {}, perLang, files: { stats, sidecars } };
    }
  } else {
    // A part's balance phase: its own sidecars, every part's counts.
    const rec = path.join(o.output, matchRecord(o.shard));
    if (!existsSync(rec)) throw new InputError(`${rec}: missing; run --phase match for part ${o.shard!.index}/${o.shard!.count} first`);
    const done = JSON.parse(await fs.readFile(rec, "utf8")) as { sidecars: string[]; perLang: Record<string, LangStats> };
    sidecars = done.sidecars.map((f) => path.join(o.output, f));
    for (const [l, s] of Object.entries(done.perLang)) perLang[l] = { ...s, kept: 0 };
    counts = {};
    for (const [l, e] of Object.entries(metadata)) {
      const parts: Float64Array[] = [];
      for (let i = 0; i < o.shard!.count; i++) {
        const file = path.join(o.output, countsFile(l, { index: i, count: o.shard!.count }));
        if (!existsSync(file)) throw new InputError(`${file}: missing; every part must finish --phase match before any part balances`);
        parts.push(await readCounts(file, e.length, `the ${l} metadata has`));
      }
      counts[l] = mergeCounts(parts);
    }
  }

  const thresholds = worldwideThresholds(counts, o.tEn, reference);

  // Pass 2: balance each language with its own counts and threshold; the
  // selection is written sidecar by sidecar (one shard each).
  const files = {
    selection: shardPath(path.join(o.output, "selection"), o.shard),
    thresholds: path.join(o.output, "thresholds.json"),
    stats: path.join(o.output, `worldwide_stats${shardSuffix(o.shard)}.json`),
    sidecars,
  };
  const sel = new SelectionWriter(files.selection);
  const keptPerShard: Record<string, number> = {};
  for (const f of sidecars) {
    const byShard = new Map<string, number[]>();
    for await (const { value, error } of readJsonl(f)) {
      if (error) continue;
      const v = value as { key: string; shard: string; row: number; lang: string; entries: number[] };
      const t = thresholds.t[v.lang];
      if (t === undefined || v.entries.length === 0) continue;
      if (!balanceKeep(v.key, v.entries, counts[v.lang]!, t, o.seed)) continue;
      let l = byShard.get(v.shard);
      if (!l) byShard.set(v.shard, (l = []));
      l.push(v.row);
      stat(v.lang).kept++;
    }
    for (const [shard, rows] of byShard) {
      await sel.add(shard, rows);
      keptPerShard[shard] = rows.length;
    }
  }
  await sel.close();
  // Every part writes the same thresholds (from the same summed counts).
  await writeJsonAtomic(files.thresholds, thresholds);
  await writeJsonAtomic(files.stats, { metadata: o.metadata, shards: o.shards, langs: o.langs, tEn: o.tEn, seed: o.seed, shard: o.shard ?? null, perLang });
  return { thresholds, counts, keptPerShard, perLang, files };
}

export interface UpsampleWorldwideOptions {
  /** Output folder of worldwideCurate (selection/ + *.wmatches.jsonl). */
  matches: string;
  /** Target share per named language, e.g. WEBLI_TARGETS. */
  targets: Record<string, number>;
  output: string;
  seed: number;
  epoch: number;
}

/**
 * Raise named languages of a worldwide-curated selection to target shares
 * (src/curation/worldwide/upsample.ts semantics); writes upsample_weights.json and the
 * thinned selection folder (OUTPUT/selection) of one epoch.
 */
export async function upsampleWorldwide(o: UpsampleWorldwideOptions): Promise<{ weights: UpsampleWeights; selection: string }> {
  const selDir = path.join(o.matches, "selection");
  if (!existsSync(selDir)) {
    const old = existsSync(path.join(o.matches, "selection.json")) ? " (it holds an old selection.json: rerun `clipts curate worldwide`, which writes the selection folder)" : "";
    throw new InputError(`--matches ${o.matches}: no selection folder${old} (run \`clipts curate worldwide\` first)`);
  }
  const sel = openSelection(selDir, "--matches selection") as ShardSelection;
  const sidecars = (await fs.readdir(o.matches)).filter((n) => n.endsWith(".wmatches.jsonl")).sort().map((f) => path.join(o.matches, f));
  // The kept rows of one sidecar (one shard's row list held at a time).
  async function* keptRows(file: string) {
    let shard: string | null = null;
    let rows = new Set<number>();
    for await (const { value, error } of readJsonl(file)) {
      if (error) continue;
      const v = value as { key: string; shard: string; row: number; lang: string };
      if (v.shard !== shard) {
        shard = v.shard;
        rows = new Set(sel.rows(shard));
      }
      if (rows.has(v.row)) yield v;
    }
  }
  // Pass 1: kept rows per language; pass 2: thin or repeat them, shard by shard.
  const counts: Record<string, number> = {};
  for (const f of sidecars) for await (const r of keptRows(f)) counts[r.lang] = (counts[r.lang] ?? 0) + 1;
  const weights = upsampleWeights(counts, o.targets);
  const out = new SelectionWriter(path.join(o.output, "selection"));
  for (const f of sidecars) {
    const one: { shard: string; row: number; key: string; lang: string }[] = [];
    for await (const r of keptRows(f)) one.push(r);
    for (const [shard, rows] of Object.entries(upsampleSelection(one, weights, o.seed, o.epoch))) await out.add(shard, rows);
  }
  await writeJsonAtomic(path.join(o.output, "upsample_weights.json"), { targets: o.targets, ...weights });
  return { weights, selection: await out.close() };
}
