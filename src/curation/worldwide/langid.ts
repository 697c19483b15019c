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
// open them with LangSidecars.open() and look a row's language up by
// (shard file, row), one shard's sidecar in memory at a time.
import { existsSync, promises as fs, readFileSync } from "node:fs";
import path from "node:path";
import { writeJsonAtomic } from "../../util/atomic.js";
import { InputError } from "../../util/errors.js";
import type { ShardSpec } from "../../util/job-array.js";
import { shardSuffix, writeShardSidecars } from "../shard-sidecars.js";
import { shardStem } from "../../formats/webdataset.js";

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

export interface ReadLangOptions {
  /** Rows whose confidence is below this become "und" (default 0: keep every label). */
  minConfidence?: number;
}

/** Shards whose labels a LangSidecars keeps: readers go shard by shard (the loader, worldwide matching). */
export const CACHED_LANG_SHARDS = 4;

/**
 * The `<shard>.lang.jsonl` sidecars of a folder, looked up by (shard file, row).
 * A shard's labels are read from its sidecar when first asked for and only the
 * last CACHED_LANG_SHARDS shards are kept, so memory is a few shards' labels
 * whatever the pool's size (a table of every row would not fit a 400M-row
 * pool). Reads are synchronous: the loader's repeats hook is. Bad lines are
 * skipped and counted in badLines (each sidecar once).
 */
export class LangSidecars {
  /** Bad lines in the sidecars read so far. */
  badLines = 0;
  private readonly cache = new Map<string, readonly (string | undefined)[]>();
  private readonly counted = new Set<string>();

  private constructor(
    readonly dir: string,
    /** One `<stem>.arrow` per sidecar, in name order (lookups go by stem, so a tar pool's `<stem>.tar` reads the same sidecar). */
    readonly shards: readonly string[],
    private readonly minConfidence: number,
  ) {}

  static async open(dir: string, o: ReadLangOptions = {}): Promise<LangSidecars> {
    if (!existsSync(dir)) throw new InputError(`${dir}: language sidecar folder does not exist (run \`clipts curate langid\` first)`);
    const names = (await fs.readdir(dir)).filter((f) => f.endsWith(".lang.jsonl")).sort();
    if (names.length === 0) throw new InputError(`${dir}: no *.lang.jsonl sidecars (run \`clipts curate langid\` first)`);
    return new LangSidecars(dir, names.map((n) => `${n.slice(0, -".lang.jsonl".length)}.arrow`), o.minConfidence ?? 0);
  }

  /** Language of each row of one shard (index = row; undefined for rows absent from its sidecar, none without one). */
  rowsOf(shardFile: string): readonly (string | undefined)[] {
    const shard = shardStem(shardFile);
    let rows = this.cache.get(shard);
    if (rows) {
      this.cache.delete(shard); // most recently used last
    } else {
      rows = this.read(shard);
      if (this.cache.size >= CACHED_LANG_SHARDS) this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(shard, rows);
    return rows;
  }

  /** A row's language, "und" when unknown. */
  langOf(shardFile: string, row: number): string {
    return this.rowsOf(shardFile)[row] ?? UNDETERMINED;
  }

  /** Shards whose labels are held now (at most CACHED_LANG_SHARDS). */
  get cachedShards(): number {
    return this.cache.size;
  }

  private read(shard: string): (string | undefined)[] {
    const file = path.join(this.dir, langSidecarOf(shard));
    const rows: (string | undefined)[] = [];
    if (!existsSync(file)) return rows;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    let bad = 0;
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      let v: { row?: unknown; lang?: unknown; confidence?: unknown } | undefined;
      try {
        v = line.includes("\uFFFD") ? undefined : (JSON.parse(line) as typeof v);
      } catch {
        v = undefined;
      }
      if (!v || typeof v !== "object" || !Number.isInteger(v.row) || (v.row as number) < 0 || typeof v.lang !== "string") {
        bad++;
        continue;
      }
      const conf = typeof v.confidence === "number" ? v.confidence : 1;
      rows[v.row as number] = conf < this.minConfidence ? UNDETERMINED : v.lang;
    }
    if (!this.counted.has(shard)) {
      this.counted.add(shard);
      this.badLines += bad;
    }
    return rows;
  }
}
