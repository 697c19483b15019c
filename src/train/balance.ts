// MetaCLIP online balancing during training: each epoch keeps a fresh balanced
// subset of the stored matches (curation's OnlineBalancer: keep a text when
// any of its matched entries passes p = t / max(count, t), drawn from
// (seed, key, epoch, entry)). The loader calls the filter per row and epoch.
import { OnlineBalancer, readCounts } from "../curation/index.js";
import type { SampleFilter } from "../formats/selection.js";
import { InputError } from "../util/errors.js";
import { readJsonl } from "../util/jsonl.js";

export interface BalanceConfig {
  /** Curation's matches JSONL: one {key, entries: number[]} per line. */
  matches: string;
  /** Global entry counts (JSON array, curation's counts file). */
  counts: string;
  /** Threshold t (MetaCLIP 400M: 20000). */
  threshold: number;
  seed: number;
}

/** Build the per-epoch row filter; rows without matches are dropped (as in MetaCLIP). */
export async function onlineBalanceFilter(b: BalanceConfig): Promise<{ filter: SampleFilter; keys: number; badLines: number }> {
  const counts = await readCounts(b.counts);
  const byKey = new Map<string, Uint32Array>();
  let bad = 0;
  for await (const { value, error, line } of readJsonl(b.matches)) {
    const v = value as { key?: unknown; entries?: unknown } | undefined;
    if (error || !v || typeof v.key !== "string" || !Array.isArray(v.entries)) {
      bad++;
      continue;
    }
    const entries = v.entries as unknown[];
    if (!entries.every((e) => Number.isInteger(e) && (e as number) >= 0 && (e as number) < counts.length)) {
      throw new InputError(`${b.matches}:${line}: entries must be integers below ${counts.length} (the counts length of ${b.counts})`);
    }
    byKey.set(v.key, Uint32Array.from(entries as number[]));
  }
  const balancer = new OnlineBalancer(counts, b.threshold, b.seed);
  const none = new Uint32Array(0);
  return { filter: (key, _row, epoch) => balancer.keep(key, byKey.get(key) ?? none, epoch), keys: byKey.size, badLines: bad };
}
