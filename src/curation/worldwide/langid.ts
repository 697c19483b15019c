// Language identification of captions with eld (Nito-ELD, n-gram detector,
// 60 languages, ISO 639-1 codes). Chosen by bench/langid.mjs on short labelled
// captions (emojibase-data labels, tuxpaint-stamps captions): most accurate of
// eld / franc / cld3-asm on 1–5 word captions and the fastest (see report in
// bench/RESULTS-langid.md). The large n-gram database is loaded once, lazily,
// because importing it costs about a second.
//
// Shards are immutable, so labels go to a sidecar per shard,
// `<shard>.lang.jsonl`: one line {row, key, lang, confidence} per readable row.
// Downstream steps (worldwide matching, per-language thresholds, upsampling)
// read them with readLangSidecars() and look a row's language up by
// (shard file, row).
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { writeJsonAtomic } from "../../util/atomic.js";
import { InputError } from "../../util/errors.js";
import { readJsonl } from "../../util/jsonl.js";
import type { ShardSpec } from "../lines.js";
import { shardSuffix, writeShardSidecars } from "../shard-sidecars.js";
import { shardStem } from "../../formats/pool.js";

/** Label of captions without a detectable language (empty, symbols only). */
export const UNDETERMINED = "und";

export interface LangGuess {
  /** ISO 639-1 code, or "und". */
  lang: string;
  /** eld's score of the winning language, in [0, 1]; 0 for "und". */
  confidence: number;
}

export interface LangIdentifier {
  detect(text: string): LangGuess;
  /** Languages the detector can output (ISO 639-1). */
  readonly languages: readonly string[];
}

let cached: Promise<LangIdentifier> | null = null;

/** The shared eld-backed identifier (loads eld's large database on first call). */
export function loadLangId(): Promise<LangIdentifier> {
  cached ??= import("eld/large").then(({ eld }) => {
    const languages = Object.values(eld.info().Languages) as string[];
    return {
      languages,
      detect(text: string): LangGuess {
        if (typeof text !== "string" || text.trim() === "") return { lang: UNDETERMINED, confidence: 0 };
        const r = eld.detect(text);
        if (!r.language) return { lang: UNDETERMINED, confidence: 0 };
        const score = r.getScores()[r.language];
        return { lang: r.language, confidence: typeof score === "number" && Number.isFinite(score) ? Math.min(1, Math.max(0, score)) : 0 };
      },
    };
  });
  return cached;
}

export interface LangidShardsOptions {
  /** Shard folder (with manifest.json). */
  shards: string;
  /** Folder for `<shard>.lang.jsonl` sidecars and `lang_stats.json`. */
  output: string;
  /** Job-array part: this task labels shards index, index+count, ... */
  shard?: ShardSpec;
  quiet?: boolean;
}

export interface LangidShardsResult {
  sidecars: string[];
  /** Rows per language. */
  counts: Record<string, number>;
  stats: { shards: number; rows: number; badRows: number; cutShort: string[] };
}

/** Sidecar name of a shard file. */
export function langSidecarOf(shardFile: string): string {
  return `${shardStem(shardFile)}.lang.jsonl`;
}

/** Label every row of the shards in a folder; one sidecar per shard, written atomically. */
export async function langidShards(o: LangidShardsOptions): Promise<LangidShardsResult> {
  const id = await loadLangId();
  await fs.mkdir(o.output, { recursive: true });
  const counts: Record<string, number> = {};
  const pass = await writeShardSidecars({
    shards: o.shards, output: o.output, shard: o.shard, label: "langid shards", quiet: o.quiet,
    sidecarName: langSidecarOf,
    lines: (rows) => {
      let out = "";
      for (const { row, sample } of rows) {
        const g = id.detect(sample.caption);
        counts[g.lang] = (counts[g.lang] ?? 0) + 1;
        out += `${JSON.stringify({ row, key: sample.key, lang: g.lang, confidence: Number(g.confidence.toFixed(4)) })}\n`;
      }
      return out;
    },
  });
  const { sidecars, ...stats } = pass;
  await writeJsonAtomic(path.join(o.output, `lang_stats${shardSuffix(o.shard)}.json`), { shardsDir: o.shards, shard: o.shard ?? null, counts, ...stats });
  return { sidecars, counts, stats };
}

/** Per shard file: language of each row (index = row; undefined for rows absent from the sidecar). */
export type LangTable = Map<string, string[]>;

export interface ReadLangOptions {
  /** Rows whose confidence is below this become "und" (default 0: keep every label). */
  minConfidence?: number;
}

/**
 * Read every `<shard>.lang.jsonl` in a folder into a (shard file, row) -> lang
 * table. Bad lines are skipped and counted.
 */
export async function readLangSidecars(dir: string, o: ReadLangOptions = {}): Promise<{ table: LangTable; badLines: number }> {
  if (!existsSync(dir)) throw new InputError(`${dir}: language sidecar folder does not exist (run \`clipts curate langid\` first)`);
  const names = (await fs.readdir(dir)).filter((f) => f.endsWith(".lang.jsonl")).sort();
  if (names.length === 0) throw new InputError(`${dir}: no *.lang.jsonl sidecars (run \`clipts curate langid\` first)`);
  const min = o.minConfidence ?? 0;
  const table: LangTable = new Map();
  let badLines = 0;
  for (const n of names) {
    const rows: string[] = [];
    for await (const { value, error } of readJsonl(path.join(dir, n))) {
      const v = value as { row?: unknown; lang?: unknown; confidence?: unknown } | undefined;
      if (error || !v || !Number.isInteger(v.row) || typeof v.lang !== "string") {
        badLines++;
        continue;
      }
      const conf = typeof v.confidence === "number" ? v.confidence : 1;
      rows[v.row as number] = conf < min ? UNDETERMINED : v.lang;
    }
    table.set(`${n.slice(0, -".lang.jsonl".length)}.arrow`, rows);
  }
  return { table, badLines };
}

/** Lookup helper: a row's language, "und" when unknown. */
export function langOf(table: LangTable, shardFile: string, row: number): string {
  return table.get(path.basename(shardFile))?.[row] ?? UNDETERMINED;
}
