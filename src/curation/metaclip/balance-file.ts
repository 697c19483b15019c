// `clipts curate balance`: read {key, entries} lines, count matches per entry
// (or take global counts from merge-counts), keep texts by MetaCLIP's rule and
// write kept keys, counts, a data card and the cumulative-matches plot.
// Two streaming passes when counting locally; memory is the count arrays.
import { SelectionWriter } from "../../formats/selection.js";
import { checkSameMetadata, matchMarkers, matchStatsNames, metadataIdentity, sidecarsIn } from "./shard-match.js";
import type { ShardSpec } from "../../util/job-array.js";
import { existsSync, promises as fs, statSync } from "node:fs";
import path from "node:path";
import { AtomicWriter, writeFileAtomic, writeJsonAtomic } from "../../util/atomic.js";
import { InputError } from "../../util/errors.js";
import { progress } from "../../util/progress.js";
import { Balancer } from "./balance.js";
import { balanceRows, emptyTally } from "./balance-rows.js";
import { readCounts, writeCounts } from "./counts.js";
import { cumulativePlot, datacard, type TextStats } from "./datacard.js";
import { fileSize, readLineBatches } from "../lines.js";
import { MAX_EXAMPLES } from "./match-batch.js";
import { sidecarPaths } from "./match-file.js";
import { loadMetadata } from "./metadata.js";

export interface BalanceOptions {
  metadata: string;
  /** A matches JSONL file, a shard folder's sidecar folder (from matchShards), or a list of sidecars. */
  matches: string | string[];
  /** With a sidecar folder: balance sidecars i, i+n, ... (a job-array task; give the merged global `counts`). */
  shard?: ShardSpec;
  t: number;
  seed: number;
  output: string;
  /** Global counts (from merge-counts); default: count this file's matches. */
  counts?: string;
  tailShares?: number[];
  quiet?: boolean;
}

export interface BalanceResult {
  dir: string;
  files: { counts: string; keptCounts: string; kept: string; datacard: string; plot: string; selection?: string };
  counts: Float64Array;
  text: TextStats;
  card: ReturnType<typeof datacard>;
}

type Parsed = { key: string; entries: number[]; shard?: string; row?: number } | { bad: keyof TextStats & ("invalidJson" | "missingKey" | "badEntries" | "invalidUtf8"); why: string } | null;

/** Parse and check one matches line; null for a blank line. */
function parseLine(raw: string, badUtf8: boolean, n: number): Parsed {
  if (raw.trim() === "") return null;
  if (badUtf8) return { bad: "invalidUtf8", why: "invalid UTF-8" };
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { bad: "invalidJson", why: "invalid JSON" };
  }
  const o = (v !== null && typeof v === "object" ? v : {}) as { key?: unknown; entries?: unknown; shard?: unknown; row?: unknown };
  if (typeof o.key !== "string") return { bad: "missingKey", why: `"key" missing or not a string` };
  const e = o.entries;
  if (!Array.isArray(e)) return { bad: "badEntries", why: `"entries" missing or not an array` };
  let ascending = true;
  for (let i = 0; i < e.length; i++) {
    const x = e[i];
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x >= n) {
      return { bad: "badEntries", why: `entry id ${JSON.stringify(x)} is not an index into the ${n} metadata entries` };
    }
    if (i > 0 && x <= e[i - 1]) ascending = false;
  }
  // Matches from other tools may be unordered or repeat ids; each entry counts once per text.
  const entries = ascending ? (e as number[]) : [...new Set(e as number[])].sort((a, b) => a - b);
  // Sidecars of shards also say where the row is, for the loader's selection.
  const at = typeof o.shard === "string" && Number.isInteger(o.row) ? { shard: o.shard, row: o.row as number } : {};
  return { key: o.key, entries, ...at };
}

async function* parsedLines(files: string[], n: number, label: string, quiet?: boolean) {
  let total = 0;
  for (const f of files) total += await fileSize(f);
  const bar = progress(label, total, { unit: "B", quiet });
  let done = 0;
  try {
    for (const file of files) {
      for await (const batch of readLineBatches(file)) {
        let b = 0;
        for (let j = 0; j < batch.lines.length; j++) {
          const bad = batch.badUtf8[b] === j;
          if (bad) b++;
          yield { file, line: batch.firstLine + j, parsed: parseLine(batch.lines[j]!, bad, n) };
        }
        bar.update(done + batch.bytesDone);
      }
      done += await fileSize(file);
    }
  } finally {
    bar.stop();
  }
}

/**
 * `curate match`'s statistics for these match files: a shard folder's
 * `match_stats[.i-of-n].json` (one object, or one per job-array task), or a
 * JSONL's `<stem>.stats.json`; undefined when there are none.
 */
async function readMatchStats(matchFiles: string[]): Promise<unknown> {
  const first = matchFiles[0]!;
  if (first.endsWith(".matches.jsonl")) {
    const dir = path.dirname(first);
    const names = matchStatsNames(await fs.readdir(dir));
    const all = [];
    for (const n of names) all.push(JSON.parse(await fs.readFile(path.join(dir, n), "utf8")) as unknown);
    if (all.length > 0) return all.length === 1 ? all[0] : all;
  }
  const file = sidecarPaths(first).stats;
  return existsSync(file) ? JSON.parse(await fs.readFile(file, "utf8")) : undefined;
}

export async function balanceFile(o: BalanceOptions): Promise<BalanceResult> {
  // Configuration errors before any work.
  if (!(o.t > 0) || !Number.isFinite(o.t)) throw new InputError(`--t must be a positive number, got ${o.t}`);
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new InputError(`--seed must be a non-negative integer, got ${o.seed}`);
  const entries = await loadMetadata(o.metadata);
  const n = entries.length;
  const folder = typeof o.matches === "string" && existsSync(o.matches) && statSync(o.matches).isDirectory();
  if (o.shard && !folder) throw new InputError("balance: a shard part (--shard) needs the matches to be a sidecar folder");
  const matchFiles = folder ? await sidecarsIn(o.matches as string, o.shard) : typeof o.matches === "string" ? [o.matches] : o.matches;
  for (const f of matchFiles) await fileSize(f);
  // Matches made against other metadata are refused before any work.
  const used = await metadataIdentity(o.metadata, n);
  if (folder) {
    for (const m of await matchMarkers(o.matches as string)) checkSameMetadata(m.metadata, used, m.file);
  } else {
    for (const f of matchFiles) {
      const stats = sidecarPaths(f).stats;
      if (!existsSync(stats)) continue;
      let recorded: { metadataSha256?: unknown; metadata?: unknown } | undefined;
      try {
        recorded = JSON.parse(await fs.readFile(stats, "utf8")) as typeof recorded;
      } catch {
        continue; // an unreadable stats file only costs the data card its match statistics
      }
      checkSameMetadata({ sha256: recorded?.metadataSha256, file: recorded?.metadata }, used, f);
    }
  }
  let counts: Float64Array;
  if (o.counts) {
    counts = await readCounts(o.counts, n);
  } else {
    counts = new Float64Array(n);
    for await (const { parsed } of parsedLines(matchFiles, n, "count", o.quiet)) {
      if (parsed && "entries" in parsed) for (const e of parsed.entries) counts[e]!++;
    }
  }

  const files: BalanceResult["files"] = {
    counts: path.join(o.output, "entry_counts.json"),
    keptCounts: path.join(o.output, "kept_entry_counts.json"),
    kept: path.join(o.output, "kept.jsonl"),
    datacard: path.join(o.output, "datacard.json"),
    plot: path.join(o.output, "entry_counts.svg"),
  };
  const balancer = new Balancer(counts, o.t, o.seed);
  const tally = emptyTally(n);
  const tx = tally.text;
  // The matches files' valid rows; bad and blank lines are counted for the data card.
  async function* validRows() {
    for await (const { file, line, parsed } of parsedLines(matchFiles, n, "balance", o.quiet)) {
      if (parsed === null) {
        tx.blank++;
        continue;
      }
      tx.lines++;
      if ("bad" in parsed) {
        tx[parsed.bad]++;
        if (tx.examples.length < MAX_EXAMPLES) tx.examples.push(`${file}:${line}: ${parsed.why}`);
        continue;
      }
      yield { ...parsed, file };
    }
  }
  const writer = new AtomicWriter(files.kept);
  // Kept rows of the current shard, when the matches say where their rows are:
  // written to the selection folder shard by shard (sidecars hold one shard each).
  const selWriter = new SelectionWriter(path.join(o.output, "selection"));
  let selShard: string | null = null;
  let selRows: number[] = [];
  const flushShard = async (file: string) => {
    if (selShard === null) return;
    if (selWriter.has(selShard)) throw new InputError(`${file}: rows of shard ${selShard} appear again after other shards (sidecars must hold their shards' rows together)`);
    await selWriter.add(selShard, selRows);
    selRows = [];
  };
  let located = false;
  try {
    for await (const kept of balanceRows(validRows(), balancer, tally)) {
      if (kept.shard !== undefined) {
        located = true;
        if (kept.shard !== selShard) {
          await flushShard(kept.file);
          selShard = kept.shard;
        }
        selRows.push(kept.row!);
      }
      await writer.write(`{"key":${JSON.stringify(kept.key)}}\n`);
    }
    await flushShard(matchFiles[matchFiles.length - 1]!);
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }

  if (located) files.selection = await selWriter.close();
  const matchStage = await readMatchStats(matchFiles);
  const card = datacard({
    entries, counts, keptCounts: tally.keptCounts, t: o.t, seed: o.seed, text: tx, tailShares: o.tailShares,
    countsSource: o.counts ?? "this run",
    extra: {
      metadata: { file: o.metadata, entries: n },
      matches: matchFiles.length === 1 ? matchFiles[0] : `${matchFiles.length} sidecars`,
      files,
      ...(matchStage ? { matchStage } : {}),
    },
  });
  await writeCounts(files.counts, counts);
  await writeCounts(files.keptCounts, tally.keptCounts);
  await writeFileAtomic(files.plot, cumulativePlot(counts, o.t, o.counts ? undefined : tally.keptCounts));
  await writeJsonAtomic(files.datacard, card);
  return { dir: o.output, files, counts, text: tx, card };
}
