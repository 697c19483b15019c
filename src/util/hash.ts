// Deterministic hashing and random numbers. Curation and data order must not
// depend on the number of workers or shards, so every random draw is derived
// from a hash of (seed, item key, ...) rather than from a shared generator.

const M64 = (1n << 64n) - 1n;

/** SplitMix64 finalizer on a BigInt in [0, 2^64). */
function mix64(x: bigint): bigint {
  x = (x + 0x9e3779b97f4a7c15n) & M64;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & M64;
  return x ^ (x >> 31n);
}

/** 64-bit FNV-1a of a string's UTF-8 bytes. */
export function hashString64(s: string): bigint {
  let h = 0xcbf29ce484222325n;
  const bytes = Buffer.from(s, "utf8");
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & M64;
  }
  return h;
}

/**
 * A uniform number in [0, 1) determined only by the seed and the parts.
 * Parts are strings (hashed) or non-negative integers.
 */
export function hashUniform(seed: number, ...parts: (string | number)[]): number {
  let h = mix64(BigInt.asUintN(64, BigInt(seed)));
  for (const p of parts) {
    const v = typeof p === "string" ? hashString64(p) : BigInt.asUintN(64, BigInt(p));
    h = mix64(h ^ v);
  }
  // Top 53 bits -> double in [0, 1).
  return Number(h >> 11n) / 2 ** 53;
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
