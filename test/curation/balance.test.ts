import { describe, it, expect } from "vitest";
import { Balancer, OnlineBalancer, balanceKeep, entryProbs, mergeCounts, pToT, tToP } from "../../src/curation/metaclip/balance.js";
import { hashUniform, Rng } from "../../src/util/hash.js";

/** A pool of texts, each matching 0..3 entries drawn from a Zipf-like distribution. */
function pool(nTexts: number, nEntries: number, seed: number) {
  const rng = new Rng(seed);
  const weights = Array.from({ length: nEntries }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  let acc = 0;
  for (const w of weights) cdf.push((acc += w / total));
  const draw = () => {
    const u = rng.next();
    let i = 0;
    while (cdf[i]! < u) i++;
    return i;
  };
  const texts: { key: string; entries: number[] }[] = [];
  for (let i = 0; i < nTexts; i++) {
    const k = rng.int(4);
    const set = new Set<number>();
    for (let j = 0; j < k; j++) set.add(draw());
    texts.push({ key: `t${i}`, entries: [...set].sort((a, b) => a - b) });
  }
  const counts = new Float64Array(nEntries);
  for (const t of texts) for (const e of t.entries) counts[e]!++;
  return { texts, counts };
}

describe("balancing", () => {
  it("keeps each text with probability 1 - prod(1 - p_e): kept count within 4 sd of its expectation", () => {
    const { texts, counts } = pool(30_000, 300, 1);
    const t = 100;
    const p = entryProbs(counts, t);
    let expected = 0, variance = 0, kept = 0;
    for (const x of texts) {
      let q = 1;
      for (const e of x.entries) q *= 1 - t / Math.max(counts[e]!, t); // independent float64 formula
      expected += 1 - q;
      variance += (1 - q) * q;
      if (balanceKeep(x.key, x.entries, counts, t, 7)) kept++;
    }
    expect(p[0]).toBeCloseTo(t / counts[0]!, 12);
    expect(counts[0]).toBeGreaterThan(3 * t); // the head is really balanced down
    expect(Math.abs(kept - expected)).toBeLessThan(4 * Math.sqrt(variance));
    expect(kept).toBeLessThan(texts.filter((x) => x.entries.length > 0).length * 0.95);
  });

  it("caps a head entry at about t texts and keeps every tail text", () => {
    const n = 5000, t = 500;
    const counts = [n, 10];
    let head = 0;
    for (let i = 0; i < n; i++) if (balanceKeep(`k${i}`, [0], counts, t, 3)) head++;
    // Binomial(n, t/n): sd = sqrt(t (1 - t/n)) ~ 21
    expect(Math.abs(head - t)).toBeLessThan(4 * Math.sqrt(t * (1 - t / n)));
    for (let i = 0; i < 10; i++) expect(balanceKeep(`tail${i}`, [1], counts, t, 3)).toBe(true);
    expect(balanceKeep("none", [], counts, t, 3)).toBe(false);
  });

  it("draws from hashUniform(seed, key, entry), independent of entry order", () => {
    const counts = [1000, 1000, 1000];
    const t = 100;
    for (let i = 0; i < 200; i++) {
      const key = `x${i}`;
      const want = [0, 1, 2].some((e) => hashUniform(11, key, e) < 0.1);
      expect(balanceKeep(key, [0, 1, 2], counts, t, 11)).toBe(want);
      expect(balanceKeep(key, [2, 0, 1], counts, t, 11)).toBe(want);
      expect(new Balancer(counts, t, 11).keep(key, [0, 1, 2])).toBe(want);
    }
  });

  it("online balancing draws a fresh subset each epoch with the same expected size", () => {
    const { texts, counts } = pool(20_000, 200, 2);
    const t = 80;
    const ob = new OnlineBalancer(Array.from(counts), t, 5);
    const kept = (epoch: number) => new Set(texts.filter((x) => ob.keep(x.key, x.entries, epoch)).map((x) => x.key));
    const e0 = kept(0), e0again = kept(0), e1 = kept(1);
    expect([...e0]).toEqual([...e0again]);
    const b = new Balancer(counts, t, 5);
    let expected = 0, variance = 0;
    for (const x of texts) {
      const q = b.keepProbability(x.entries);
      expected += q;
      variance += q * (1 - q);
    }
    for (const s of [e0, e1]) expect(Math.abs(s.size - expected)).toBeLessThan(4 * Math.sqrt(variance));
    const overlap = [...e0].filter((k) => e1.has(k)).length;
    expect(overlap).toBeLessThan(e0.size); // a different subset...
    expect(overlap).toBeGreaterThan(0.3 * e0.size); // ...but tail texts are in every epoch
  });

  it("rejects a non-positive threshold", () => {
    expect(() => balanceKeep("a", [0], [1], 0, 1)).toThrow(/threshold/);
    expect(() => new OnlineBalancer([1], -1, 1)).toThrow(/threshold/);
  });
});

describe("counts", () => {
  it("merges shard counts and checks lengths", () => {
    expect(Array.from(mergeCounts([[1, 2, 3], new Uint32Array([4, 0, 1]), new Float64Array([0, 0, 5])]))).toEqual([5, 2, 9]);
    expect(() => mergeCounts([[1, 2], [1]])).toThrow(/1 entries, expected 2/);
  });

  it("t_to_p and p_to_t follow MetaCLIP's definitions (values checked with numpy)", () => {
    const c = [4, 1, 3, 2, 0]; // sorted: 0 1 2 3 4, cumulative share 0 .1 .3 .6 1
    expect(tToP(c, 3)).toBeCloseTo(0.3, 12); // (1 + 2) / 10: counts strictly below t
    expect(tToP(c, 5)).toBe(1);
    expect(tToP(c, 1)).toBe(0);
    expect(pToT(c, 0.3)).toBe(2);
    expect(pToT(c, 0.5)).toBe(3); // |.6 - .5| < |.3 - .5|
    expect(pToT(c, 0.2)).toBe(2); // in float64 |.3 - .2| < |.1 - .2|, as in numpy
    expect(pToT([2, 1, 1], 0.375)).toBe(1); // exact tie between .25 and .5: the first (numpy argmin)
    expect(pToT(c, 1)).toBe(4);
    expect(Number.isNaN(tToP([0, 0], 3))).toBe(true);
    expect(Number.isNaN(pToT([], 0.5))).toBe(true);
    // Round trip on a realistic distribution: the tail at pToT(p) holds about p.
    const { counts } = pool(20_000, 400, 3);
    for (const p of [0.2, 0.5, 0.8]) {
      const t = pToT(counts, p);
      expect(Math.abs(tToP(counts, t + 1) - p)).toBeLessThan(0.05);
    }
  });
});

describe("32-bit hashUniform", () => {
  it("extends a prefix exactly and separates parts", async () => {
    const { hashPrefix, uniformFrom } = await import("../../src/util/hash.js");
    expect(uniformFrom(hashPrefix(9, "key"), 17)).toBe(hashUniform(9, "key", 17));
    expect(uniformFrom(hashPrefix(9), "key", 2 ** 40)).toBe(hashUniform(9, "key", 2 ** 40));
    expect(hashUniform(9, "ab", "c")).not.toBe(hashUniform(9, "a", "bc"));
    expect(hashUniform(9, 1, 2)).not.toBe(hashUniform(9, 2, 1));
    expect(hashUniform(2 ** 33, "x")).not.toBe(hashUniform(2 ** 33 + 1, "x"));
    expect(() => hashUniform(1, -1)).toThrow(RangeError);
    // Pairs of nearby keys and entry ids are uncorrelated: P(u1 < .5 and u2 < .5) ~ 1/4.
    let both = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) if (hashUniform(3, `k${i}`, 5) < 0.5 && hashUniform(3, `k${i}`, 6) < 0.5) both++;
    expect(Math.abs(both / n - 0.25)).toBeLessThan(5 * Math.sqrt((0.25 * 0.75) / n));
  });
});
