// Deterministic hashing and random numbers. Curation and data order must not
// depend on the number of workers or shards, so every random draw is derived
// from a hash of (seed, item key, ...) rather than from a shared generator.
//
// The hash runs on 32-bit integer math (Math.imul) in two independent lanes,
// MurmurHash3-style, giving 53 output bits. Balancing a pool draws one number
// per (text, matched entry), so this is on the hot path: no BigInt here.

/** Two-lane running hash state. Treat as opaque; see hashPrefix / uniformFrom. */
export type HashState = readonly [number, number];

const C1 = 0xcc9e2d51, C2 = 0x1b873593, C3 = 0x85ebca6b, C4 = 0xc2b2ae35;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, C3);
  h ^= h >>> 13;
  h = Math.imul(h, C4);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Absorb one 32-bit word into both lanes (different constants per lane). */
function absorb(a: number, b: number, w: number): [number, number] {
  let k = Math.imul(rotl(Math.imul(w, C1), 15), C2);
  a = Math.imul(rotl(a ^ k, 13), 5) + 0xe6546b64;
  k = Math.imul(rotl(Math.imul(w, C2), 17), C1);
  b = Math.imul(rotl(b ^ k, 19), 5) + 0x561ccd1b;
  return [a | 0, b | 0];
}

function absorbPart(s: HashState, p: string | number): HashState {
  let [a, b] = s;
  if (typeof p === "string") {
    // Two UTF-16 code units per word, then the length, so "ab"+"c" differs from "a"+"bc".
    const n = p.length;
    let i = 0;
    for (; i + 1 < n; i += 2) [a, b] = absorb(a, b, p.charCodeAt(i) | (p.charCodeAt(i + 1) << 16));
    if (i < n) [a, b] = absorb(a, b, p.charCodeAt(i));
    [a, b] = absorb(a, b, (n ^ 0x5bd1e995) | 0);
  } else {
    if (!Number.isInteger(p) || p < 0 || p > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`hash part must be a non-negative safe integer, got ${p}`);
    }
    [a, b] = absorb(a, b, p >>> 0);
    [a, b] = absorb(a, b, Math.floor(p / 4294967296) ^ 0x27d4eb2f);
  }
  // Mix the lanes into each other after every part so parts cannot be reordered.
  a = (a + b) | 0;
  b = (b + a) | 0;
  return [a, b];
}

/** Hash state after the seed and the given parts; extend with uniformFrom. */
export function hashPrefix(seed: number, ...parts: (string | number)[]): HashState {
  const s0 = seed >>> 0, s1 = Math.floor(seed / 4294967296) >>> 0;
  let s: HashState = [fmix(s0 ^ 0x9e3779b9) | 0, fmix(s1 ^ 0x7f4a7c15 ^ s0) | 0];
  for (const p of parts) s = absorbPart(s, p);
  return s;
}

/** Finish a hash state to a double in [0, 1) with 53 random bits. */
function finish(s: HashState): number {
  let [a, b] = s;
  a = fmix(a);
  b = fmix(b ^ a);
  a = fmix((a + b) | 0);
  // 27 bits from a, 26 bits from b.
  return (a >>> 5) * 67108864 / 9007199254740992 + (b >>> 6) / 9007199254740992;
}

/**
 * Continue a prefix with more parts and return the uniform.
 * uniformFrom(hashPrefix(seed, a), b) === hashUniform(seed, a, b).
 */
export function uniformFrom(prefix: HashState, ...parts: (string | number)[]): number {
  let s = prefix;
  for (const p of parts) s = absorbPart(s, p);
  return finish(s);
}

/**
 * A uniform number in [0, 1) determined only by the seed and the parts.
 * Parts are strings (hashed) or non-negative integers.
 */
export function hashUniform(seed: number, ...parts: (string | number)[]): number {
  return finish(hashPrefix(seed, ...parts));
}

/**
 * Small, fast, serializable PRNG (mulberry32) for shuffles and augmentation.
 * Its whole state is one 32-bit integer, so it can be saved in checkpoints.
 */
export class Rng {
  constructor(public state: number) {
    this.state = state >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Fisher-Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}
