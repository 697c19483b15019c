import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { Loader } from "../../src/data/loader.js";
import { loadTokenizer } from "../../src/text/index.js";
import { onlineBalanceFilter } from "../../src/train/balance.js";
import { InputError } from "../../src/util/errors.js";
import { colorShards } from "./fixtures.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

function files(matches: string[], counts: number[]): { matches: string; counts: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "clipts-bal-"));
  writeFileSync(path.join(dir, "matches.jsonl"), matches.join("\n") + "\n");
  writeFileSync(path.join(dir, "counts.json"), JSON.stringify(counts));
  return { matches: path.join(dir, "matches.jsonl"), counts: path.join(dir, "counts.json") };
}

describe("online balancing in the loader", () => {
  it("keeps rows whose entries pass, per epoch, and drops unmatched rows", async () => {
    // Entry 0 is a head entry (p = t / 1e9), entry 1 a tail entry (p = 1).
    const m = [
      ...Array.from({ length: 8 }, (_, i) => JSON.stringify({ key: `c${i}`, entries: [1] })),
      ...Array.from({ length: 4 }, (_, i) => JSON.stringify({ key: `c${8 + i}`, entries: [0] })),
      "{not json",
    ];
    const f = files(m, [1e9, 5]);
    const { filter, keys, badLines } = await onlineBalanceFilter({ ...f, threshold: 10, seed: 0 });
    expect([keys, badLines]).toEqual([12, 1]);
    const shards = await colorShards(16, 8, 16);
    const tok = await loadTokenizer({ kind: "clip", contextLength: 16 });
    const loader = new Loader({
      dir: shards,
      batchSize: 4,
      tokenize: (t) => tok.tokenize(t, 16),
      contextLength: 16,
      imageSize: 16,
      epochs: 2,
      workers: 0,
      sampler: filter,
    });
    const seen: string[] = [];
    for await (const b of loader) {
      seen.push(...b.keys);
      tf.dispose([b.images, b.tokens]);
    }
    // c0..c7 in both epochs; head-entry rows and unmatched rows c12..c15 never.
    expect(seen.sort()).toEqual([...Array.from({ length: 8 }, (_, i) => `c${i}`), ...Array.from({ length: 8 }, (_, i) => `c${i}`)].sort());
  });

  it("draws a new subset each epoch for entries with 0 < p < 1", async () => {
    const n = 400;
    const f = files(Array.from({ length: n }, (_, i) => JSON.stringify({ key: `k${i}`, entries: [0] })), [20]);
    const { filter } = await onlineBalanceFilter({ ...f, threshold: 10, seed: 3 }); // p = 0.5
    const e0 = Array.from({ length: n }, (_, i) => filter(`k${i}`, i, 0, "s"));
    const e1 = Array.from({ length: n }, (_, i) => filter(`k${i}`, i, 1, "s"));
    const frac = (a: boolean[]) => a.filter(Boolean).length / n;
    expect(frac(e0)).toBeGreaterThan(0.4);
    expect(frac(e0)).toBeLessThan(0.6);
    const differ = e0.filter((x, i) => x !== e1[i]).length / n;
    expect(differ).toBeGreaterThan(0.35); // independent draws differ about half the time
    expect(Array.from({ length: n }, (_, i) => filter(`k${i}`, i, 0, "s"))).toEqual(e0); // deterministic
  });

  it("rejects entries outside the counts, naming the line", async () => {
    const f = files([JSON.stringify({ key: "a", entries: [0] }), JSON.stringify({ key: "b", entries: [7] })], [3, 4]);
    await expect(onlineBalanceFilter({ ...f, threshold: 10, seed: 0 })).rejects.toThrow(InputError);
    await expect(onlineBalanceFilter({ ...f, threshold: 10, seed: 0 })).rejects.toThrow(/matches\.jsonl:2/);
  });
});
