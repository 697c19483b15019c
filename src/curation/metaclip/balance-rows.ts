// MetaCLIP's balancing as one core over a stream of matched rows. The JSONL
// path (balance-file.ts: a matches file or a shard folder's sidecars) and the
// ablation runner read their rows their own way and balance them here, so the
// kept set and the data card's tallies are computed once.
import { emptyTextStats, type TextStats } from "./datacard.js";
import type { Balancer } from "./balance.js";

/** A matched pool row as balancing sees it: its key and ascending entry ids. */
export interface MatchedRow {
  key: string;
  entries: ArrayLike<number>;
}

/** What a balance pass tallies for its data card: text statistics and matches per entry among kept rows. */
export interface BalanceTally {
  text: TextStats;
  keptCounts: Float64Array;
}

export function emptyTally(entries: number): BalanceTally {
  return { text: emptyTextStats(), keptCounts: new Float64Array(entries) };
}

/**
 * MetaCLIP's offline balancing of a stream of matched rows (matches and counts
 * in, kept rows out, in input order), tallying the data card's statistics as it
 * goes. Every caller (a JSONL matches file, a shard folder's sidecars, the
 * ablation runner's pool) reads its rows its own way and balances them here.
 */
export async function* balanceRows<R extends MatchedRow>(rows: AsyncIterable<R> | Iterable<R>, balancer: Balancer, tally: BalanceTally): AsyncGenerator<R> {
  const tx = tally.text;
  for await (const r of rows) {
    const es = r.entries;
    tx.texts++;
    tx.matches += es.length;
    tx.matchesHistogram[Math.min(es.length, 10)]!++;
    if (es.length === 0) continue;
    tx.matched++;
    const q = balancer.keepProbability(es);
    tx.expectedKept += q;
    tx.expectedKeptVar += q * (1 - q);
    if (!balancer.keep(r.key, es)) continue;
    tx.kept++;
    for (let i = 0; i < es.length; i++) tally.keptCounts[es[i]!]!++;
    yield r;
  }
}
