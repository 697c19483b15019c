// MetaCLIP balancing: an entry matched by `count` texts keeps each of them with
// probability p = t / max(count, t); a text is kept when any of its matched
// entries passes its own draw. Draws are hashes of (seed, text key, entry id),
// so the kept set does not depend on workers, shards or input order.
import { hashPrefix, uniformFrom, type HashState } from "../../util/hash.js";

/** Per-entry keep probabilities t / max(count, t). */
export function entryProbs(counts: ArrayLike<number>, t: number): Float64Array {
  checkT(t);
  const p = new Float64Array(counts.length);
  for (let i = 0; i < counts.length; i++) p[i] = t / Math.max(counts[i]!, t);
  return p;
}

function checkT(t: number): void {
  if (!(t > 0) || !Number.isFinite(t)) throw new RangeError(`balancing threshold t must be a positive number, got ${t}`);
}

function anyPasses(prefix: HashState, entries: ArrayLike<number>, probs: Float64Array): boolean {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const p = probs[e]!;
    if (p >= 1 || uniformFrom(prefix, e) < p) return true; // u < 1 always, so p >= 1 needs no draw
  }
  return false;
}

/** Offline balancing with fixed probabilities (one pass over a pool). */
export class Balancer {
  readonly probs: Float64Array;
  constructor(counts: ArrayLike<number>, readonly t: number, readonly seed: number) {
    this.probs = entryProbs(counts, t);
  }
  keep(key: string, entries: ArrayLike<number>): boolean {
    if (entries.length === 0) return false;
    return anyPasses(hashPrefix(this.seed, key), entries, this.probs);
  }
  /** Probability that a text with these entries is kept: 1 − Π(1 − p_e). */
  keepProbability(entries: ArrayLike<number>): number {
    let q = 1;
    for (let i = 0; i < entries.length; i++) q *= 1 - this.probs[entries[i]!]!;
    return 1 - q;
  }
}

/** One balancing decision; the draw for entry e is hashUniform(seed, key, e). */
export function balanceKeep(key: string, entries: ArrayLike<number>, counts: ArrayLike<number>, t: number, seed: number): boolean {
  checkT(t);
  if (entries.length === 0) return false;
  const prefix = hashPrefix(seed, key);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const p = t / Math.max(counts[e]!, t);
    if (p >= 1 || uniformFrom(prefix, e) < p) return true;
  }
  return false;
}

/**
 * MetaCLIP's online balancing: the same rule, drawn anew each epoch from stored
 * matches and global counts, so each epoch sees a different balanced subset.
 * The draw for entry e is hashUniform(seed, key, epoch, e).
 */
export class OnlineBalancer {
  readonly probs: Float64Array;
  constructor(counts: Uint32Array | Float64Array | readonly number[], readonly t: number, readonly seed: number) {
    this.probs = entryProbs(counts, t);
  }
  keep(key: string, entries: ArrayLike<number>, epoch: number): boolean {
    if (entries.length === 0) return false;
    return anyPasses(hashPrefix(this.seed, key, epoch), entries, this.probs);
  }
}

/** Sum per-entry count arrays of equal length (shards -> global counts). */
export function mergeCounts(parts: readonly ArrayLike<number>[]): Float64Array {
  if (parts.length === 0) throw new RangeError("mergeCounts needs at least one count array");
  const n = parts[0]!.length;
  const out = new Float64Array(n);
  parts.forEach((p, k) => {
    if (p.length !== n) throw new RangeError(`count array ${k} has ${p.length} entries, expected ${n}`);
    for (let i = 0; i < n; i++) out[i]! += p[i]!;
  });
  return out;
}

/**
 * Share of all matches that fall on tail entries (count < t); MetaCLIP's t_to_p.
 * NaN when there are no matches at all.
 */
export function tToP(counts: ArrayLike<number>, t: number): number {
  let tail = 0, total = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    total += c;
    if (c < t) tail += c;
  }
  return tail / total;
}

/**
 * The threshold t whose tail holds a share p of all matches; MetaCLIP's p_to_t:
 * sort counts ascending, take the count where the cumulative share is closest
 * to p (first such entry on ties). NaN when there are no entries or no matches.
 */
export function pToT(counts: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(counts).sort();
  let total = 0;
  for (const c of sorted) total += c;
  if (sorted.length === 0 || total === 0) return NaN;
  let best = 0, bestDist = Infinity, cum = 0;
  for (let i = 0; i < sorted.length; i++) {
    cum += sorted[i]!;
    const d = Math.abs(cum / total - p);
    if (d < bestDist) {
      bestDist = d;
      best = i;
    }
  }
  return sorted[best]!;
}
