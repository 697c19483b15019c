// Low-resource upsampling: weights give each named language exactly its target
// share (float), and the loader's sampler realises it within a binomial bound.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { copiesOf, upsampleRepeats, upsampleSampler, upsampleSelection, upsampleWeights, WEBLI_TARGETS } from "../../src/curation/worldwide/upsample.js";
import { SampleStream, type OrderOptions } from "../../src/data/sampler.js";
import type { Manifest } from "../../src/formats/types.js";
import { writeShards, type Row } from "./loader-fixtures.js";

const COUNTS = { en: 2600, de: 700, ja: 500, zh: 150, bn: 8, sw: 12, hi: 30 };
const TARGETS = { bn: 0.01, sw: 0.01, hi: 0.02 };

/**
 * A pool with COUNTS rows per language, interleaved deterministically over
 * `nShards` shards so every shard holds every language (images are never
 * decoded here); returns the shard folder, its manifest and each row's language.
 */
function languagePool(nShards: number): { dir: string; manifest: Manifest; langOfRow: Map<string, string> } {
  const langs: string[] = [];
  for (const [l, n] of Object.entries(COUNTS)) for (let i = 0; i < n; i++) langs.push(l);
  const order = langs.map((l, i) => ({ l, o: (i * 2654435761) % 4294967291 })).sort((a, b) => a.o - b.o).map((x) => x.l);
  const per = Math.ceil(order.length / nShards);
  const shards: Row[][] = [];
  const langOfRow = new Map<string, string>();
  for (let s = 0; s < nShards; s++) {
    const part = order.slice(s * per, (s + 1) * per);
    shards.push(part.map((l, r) => ({ key: `k${s}-${r}`, caption: l, image: new Uint8Array([0]), width: 1, height: 1 })));
    part.forEach((l, r) => langOfRow.set(`shard-${String(s).padStart(5, "0")}.arrow:${r}`, l));
  }
  const dir = writeShards(shards);
  const manifest = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")) as Manifest;
  return { dir, manifest, langOfRow };
}

describe("upsampleWeights", () => {
  it("puts each named language at its target and keeps the others' proportions", () => {
    const w = upsampleWeights(COUNTS, TARGETS);
    const N = Object.values(COUNTS).reduce((a, b) => a + b, 0);
    // Weighted shares from the copies m_l and from the keep probabilities k_l agree and hit the targets.
    let mass = 0;
    for (const [l, n] of Object.entries(COUNTS)) mass += w.copies[l]! * n;
    expect(mass / N).toBeCloseTo(1, 12);
    for (const [l, tau] of Object.entries(TARGETS)) {
      expect(w.expectedShare[l]).toBeCloseTo(tau, 12);
      expect((w.copies[l]! * COUNTS[l as keyof typeof COUNTS]) / mass).toBeCloseTo(tau, 12);
    }
    expect(w.expectedShare.en! / w.expectedShare.de!).toBeCloseTo(2600 / 700, 12);
    expect(Math.max(...Object.values(w.keep))).toBe(1);
    expect(w.keepOther).toBe(w.keep.en);
  });

  it("rejects impossible targets with the language named", () => {
    expect(() => upsampleWeights(COUNTS, { bn: 0.6, sw: 0.5 })).toThrow(/sum to/);
    expect(() => upsampleWeights(COUNTS, { mi: 0.01 })).toThrow(/"mi" has a target share but no rows/);
    expect(() => upsampleWeights(COUNTS, { bn: 0 })).toThrow(/"bn" must be in \(0, 1\)/);
    expect(Object.keys(WEBLI_TARGETS).sort()).toEqual(["bn", "fil", "hi", "iw", "mi", "sw", "te"]);
  });
});

describe("upsampling through the loader's sampler", () => {
  it("realises the target shares over epochs within a 5-sigma binomial bound", async () => {
    const { dir, manifest, langOfRow } = languagePool(4);
    const w = upsampleWeights(COUNTS, TARGETS);
    const epochs = 6;
    const sampler = upsampleSampler(w, (f, r) => langOfRow.get(`${f}:${r}`)!, 42);
    const stream = SampleStream.start(dir, manifest, {
      seed: 1, shuffle: true, shuffleBuffer: 0, resampled: false, rank: 0, worldSize: 1, splitBy: "shard", epochs, sampler,
    });
    const seen: Record<string, number> = {};
    let total = 0;
    for (let it = await stream.next(); it; it = await stream.next()) {
      seen[it.caption as string] = (seen[it.caption as string] ?? 0) + 1;
      total++;
    }
    // Expected total and per-language counts; independent Bernoulli keeps per row and epoch.
    const eTotal = epochs * w.expectedRows;
    let varTotal = 0;
    for (const [l, n] of Object.entries(COUNTS)) varTotal += epochs * n * w.keep[l]! * (1 - w.keep[l]!);
    expect(Math.abs(total - eTotal)).toBeLessThanOrEqual(5 * Math.sqrt(varTotal) + 1);
    for (const [l, tau] of Object.entries(TARGETS)) {
      const n = COUNTS[l as keyof typeof COUNTS], k = w.keep[l]!;
      const sd = Math.sqrt(epochs * n * k * (1 - k));
      const tol = (5 * sd + tau * 5 * Math.sqrt(varTotal) + 1) / eTotal;
      expect(Math.abs((seen[l] ?? 0) / total - tau)).toBeLessThanOrEqual(tol);
    }
    // Without the sampler bn would be 8 / 4000 = 0.2%; with it, about 1%.
    expect((seen.bn ?? 0) / total).toBeGreaterThan(0.005);
    // Deterministic from seed + epoch + key: the same filter keeps the same rows.
    const again = upsampleSampler(w, (f, r) => langOfRow.get(`${f}:${r}`)!, 42);
    for (let r = 0; r < 50; r++) expect(again(`k0-${r}`, r, 3, "shard-00000.arrow")).toBe(sampler(`k0-${r}`, r, 3, "shard-00000.arrow"));
  });

  it("offline selection and integer copies follow the same expectations", () => {
    const w = upsampleWeights(COUNTS, TARGETS);
    const rows = Object.entries(COUNTS).flatMap(([lang, n]) => Array.from({ length: n }, (_, i) => ({ shard: "s.arrow", row: 0, key: `${lang}${i}`, lang })));
    const sel = upsampleSelection(rows, w, 5);
    const kept = sel["s.arrow"]!.length;
    expect(Math.abs(kept - w.expectedRows)).toBeLessThanOrEqual(5 * Math.sqrt(w.expectedRows));
    // copiesOf: mean of floor(m) + Bernoulli(frac m) over many keys.
    const m = 2.3;
    let sum = 0;
    for (let i = 0; i < 4000; i++) sum += copiesOf(m, 9, `k${i}`, 0);
    expect(Math.abs(sum / 4000 - m)).toBeLessThanOrEqual(5 * Math.sqrt(0.3 * 0.7 / 4000));
  });
});

describe("upsampling by replication (the loader's repeats hook)", () => {
  it("repeats rows to the target shares and resumes exactly from a snapshot", async () => {
    const { dir, manifest, langOfRow } = languagePool(3);
    const w = upsampleWeights(COUNTS, TARGETS);
    const epochs = 4;
    const o: OrderOptions = {
      seed: 2, shuffle: true, shuffleBuffer: 64, resampled: false, rank: 0, worldSize: 1, splitBy: "shard", epochs,
      repeats: upsampleRepeats(w, (f, r) => langOfRow.get(`${f}:${r}`)!, 7),
    };
    const stream = SampleStream.start(dir, manifest, o);
    const items: string[] = [];
    const seen: Record<string, number> = {};
    let snap: ReturnType<SampleStream["snapshot"]> | null = null, at = 0;
    for (let it = await stream.next(); it; it = await stream.next()) {
      items.push(`${it.epoch}:${it.key}`);
      seen[it.caption as string] = (seen[it.caption as string] ?? 0) + 1;
      // Snapshot in the middle of a row's copies, so the restore must carry them.
      if (!snap && items.length > 3000 && (stream.snapshot().pending ?? 0) > 0) { snap = stream.snapshot(); at = items.length; }
    }
    const total = items.length;
    // E[copies] = m_l per row and epoch; Var = f(1 - f) with f = frac(m_l).
    let eTotal = 0, varTotal = 0;
    for (const [l, n] of Object.entries(COUNTS)) {
      const m = w.copies[l]!, f = m - Math.floor(m);
      eTotal += epochs * n * m;
      varTotal += epochs * n * f * (1 - f);
    }
    expect(eTotal).toBeCloseTo(epochs * 4000, 6);
    expect(Math.abs(total - eTotal)).toBeLessThanOrEqual(5 * Math.sqrt(varTotal) + 1);
    for (const [l, tau] of Object.entries(TARGETS)) {
      const n = COUNTS[l as keyof typeof COUNTS], m = w.copies[l]!, f = m - Math.floor(m);
      const tol = (5 * Math.sqrt(epochs * n * f * (1 - f)) + tau * 5 * Math.sqrt(varTotal) + 1) / eTotal;
      expect(Math.abs((seen[l] ?? 0) / total - tau)).toBeLessThanOrEqual(tol);
    }
    // Copies of a row are real repeats: bn rows (m ≈ 5) appear several times per epoch.
    expect(seen.bn! / (epochs * COUNTS.bn)).toBeGreaterThan(3);
    // A stream restored from the snapshot yields exactly the rest.
    const restored = await SampleStream.restore(dir, manifest, o, snap!);
    const rest: string[] = [];
    for (let it = await restored.next(); it; it = await restored.next()) rest.push(`${it.epoch}:${it.key}`);
    expect(rest).toEqual(items.slice(at));
  });
});
