// Low-resource language upsampling (WebLI raised bn, fil, hi, iw, mi, sw, te
// to 1% each of the training mix).
//
// Given each language's row count n_l in the pool (share s_l = n_l / N) and
// targets τ_l for the named languages (Σ τ < 1), every row of language l gets a
// weight m_l (expected copies per epoch):
//   named l:    m_l = τ_l / s_l
//   other l:    m_l = (1 − Σ_named τ) / (1 − Σ_named s)
// so Σ_l m_l s_l = 1 and the weighted share of a named language is exactly τ_l;
// unnamed languages keep their relative proportions.
//
// The loader takes these weights as a per-epoch keep filter (SampleFilter): a
// row of language l is kept in epoch e when
//   hashUniform(seed, "upsample", key, e) < k_l,   k_l = m_l / max_l' m_l,
// i.e. rows are never repeated within an epoch; over-represented languages are
// thinned instead, which gives the same expected shares (k_l s_l / Σ k s = τ_l)
// with an epoch of Σ k_l n_l rows. Each epoch draws anew, so across epochs every
// row of a thinned language is still seen.
// Replication form: the Loader's `repeats` option with upsampleRepeats() emits
// each row copiesOf(m_l, seed, key, epoch) times (floor(m_l), plus one with
// probability frac(m_l)): same expected shares, an epoch of about N rows.
import { hashUniform } from "../../util/hash.js";
import { InputError } from "../../util/errors.js";
import type { RepeatCount, SampleFilter } from "../../formats/selection.js";

/** WebLI's low-resource languages and target share. */
export const WEBLI_TARGETS: Readonly<Record<string, number>> = { bn: 0.01, fil: 0.01, hi: 0.01, iw: 0.01, mi: 0.01, sw: 0.01, te: 0.01 };

export interface UpsampleWeights {
  /** Expected copies per row of each language (m_l). */
  copies: Record<string, number>;
  /** Per-epoch keep probability of each language (k_l = m_l / max m). */
  keep: Record<string, number>;
  /** Natural share s_l and resulting expected share per language. */
  share: Record<string, number>;
  expectedShare: Record<string, number>;
  /** Expected rows per epoch with the keep filter, and in the pool. */
  expectedRows: number;
  rows: number;
  /** Keep probability of languages without a target (also used for rows of unknown language). */
  keepOther: number;
}

export function upsampleWeights(counts: Readonly<Record<string, number>>, targets: Readonly<Record<string, number>>): UpsampleWeights {
  let N = 0;
  for (const [l, n] of Object.entries(counts)) {
    if (!(n >= 0) || !Number.isFinite(n)) throw new InputError(`row count of language "${l}" must be a non-negative number, got ${n}`);
    N += n;
  }
  if (N === 0) throw new InputError("the pool has no rows");
  let tauSum = 0, sNamed = 0;
  for (const [l, tau] of Object.entries(targets)) {
    if (!(tau > 0 && tau < 1)) throw new InputError(`target share of "${l}" must be in (0, 1), got ${tau}`);
    if (!((counts[l] ?? 0) > 0)) throw new InputError(`language "${l}" has a target share but no rows in the pool`);
    tauSum += tau;
    sNamed += counts[l]! / N;
  }
  if (!(tauSum < 1)) throw new InputError(`target shares sum to ${tauSum}; they must leave room for the other languages (< 1)`);
  const others = Object.keys(counts).filter((l) => !(l in targets) && counts[l]! > 0);
  if (others.length === 0 && tauSum !== 1) throw new InputError("every language has a target, so the targets must sum to 1");
  const mOther = (1 - tauSum) / (1 - sNamed);
  const copies: Record<string, number> = {}, share: Record<string, number> = {};
  for (const [l, n] of Object.entries(counts)) {
    share[l] = n / N;
    copies[l] = l in targets ? targets[l]! / (n / N) : mOther;
  }
  const max = Math.max(...Object.values(copies));
  const keep: Record<string, number> = {}, expectedShare: Record<string, number> = {};
  let expectedRows = 0;
  for (const [l, n] of Object.entries(counts)) {
    keep[l] = copies[l]! / max;
    expectedRows += keep[l]! * n;
  }
  for (const [l, n] of Object.entries(counts)) expectedShare[l] = (keep[l]! * n) / expectedRows;
  return { copies, keep, share, expectedShare, expectedRows, rows: N, keepOther: mOther / max };
}

/** The language of a row: (shard file, row) -> language code. */
export type LangLookup = (shardFile: string, row: number) => string;

/**
 * Per-epoch keep filter for the Loader's `sampler` option. A language absent
 * from the weights (e.g. rows not labelled) is kept with the probability of
 * the unnamed languages (or `unknownKeep`).
 */
export function upsampleSampler(w: UpsampleWeights, langOf: LangLookup, seed: number, unknownKeep?: number): SampleFilter {
  const fallback = unknownKeep ?? w.keepOther;
  return (key, row, epoch, shard) => {
    const k = w.keep[langOf(shard, row)] ?? fallback;
    return k >= 1 || hashUniform(seed, "upsample", key, epoch) < k;
  };
}

/**
 * Per-epoch copies for the Loader's `repeats` option: a row of language l is
 * emitted copiesOf(m_l, seed, key, epoch) times (expectation m_l), so named
 * languages are replicated and the others slightly thinned (m < 1); the epoch
 * keeps about as many rows as the pool (Σ m_l n_l = N).
 */
export function upsampleRepeats(w: UpsampleWeights, langOf: LangLookup, seed: number): RepeatCount {
  const other = w.keepOther * Math.max(...Object.values(w.copies));
  return (key, row, epoch, shard) => copiesOf(w.copies[langOf(shard, row)] ?? other, seed, key, epoch);
}

/** Integer copies of a row in an epoch with expectation m (floor(m) plus one more with probability frac(m)). */
export function copiesOf(m: number, seed: number, key: string, epoch: number): number {
  const f = Math.floor(m);
  return f + (hashUniform(seed, "upsample-copies", key, epoch) < m - f ? 1 : 0);
}

/**
 * Offline form for ablation `selection` variants: the rows kept by the keep
 * filter at one epoch, as {shard file: row ids}.
 */
export function upsampleSelection(
  rows: Iterable<{ shard: string; row: number; key: string; lang: string }>,
  w: UpsampleWeights,
  seed: number,
  epoch = 0,
): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const r of rows) {
    const k = w.keep[r.lang] ?? w.keepOther;
    if (k >= 1 || hashUniform(seed, "upsample", r.key, epoch) < k) (out[r.shard] ??= []).push(r.row);
  }
  return out;
}
