import { describe, it, expect } from "vitest";
import "@tensorflow/tfjs-backend-cpu";
import { truncateSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Loader, type LoaderOptions, type LoaderState } from "../../src/data/loader.js";
import { shardSequence } from "../../src/data/sampler.js";
import { preprocessImage, DEFAULT_TRANSFORM } from "../../src/image/transforms.js";
import { openShard, listShards } from "../../src/formats/shards.js";
import { InputError } from "../../src/util/errors.js";
import { loadTokenizer } from "../../src/text/index.js";
import { goodShards, writeShards, charTokenize, type Row } from "./loader-fixtures.js";
import { makeImage } from "./fixtures.js";

const CTX = 12;
const tfDispose = (b: { images: { dispose(): void }; tokens: { dispose(): void } }) => {
  b.images.dispose();
  b.tokens.dispose();
};
const SIZE = 8;

interface Got {
  keys: string[];
  images: Float32Array;
  tokens: Int32Array;
  labels?: Int32Array;
  epoch: number;
  index: number;
}

async function collect(loader: Loader, stopAfter = Infinity, ctx = CTX): Promise<Got[]> {
  const out: Got[] = [];
  for await (const b of loader) {
    out.push({ keys: b.keys, images: b.images.dataSync() as Float32Array, tokens: b.tokens.dataSync() as Int32Array, labels: b.labels, epoch: b.epoch, index: b.index });
    expect(b.images.shape).toEqual([b.keys.length, SIZE, SIZE, 3]);
    expect(b.images.dtype).toBe("float32");
    expect(b.tokens.shape).toEqual([b.keys.length, ctx]);
    expect(b.tokens.dtype).toBe("int32");
    b.images.dispose();
    b.tokens.dispose();
    if (out.length >= stopAfter) break;
  }
  return out;
}

const base = (dir: string, o: Partial<LoaderOptions> = {}): LoaderOptions => ({
  dir, batchSize: 5, tokenize: charTokenize(CTX), contextLength: CTX, imageSize: SIZE, workers: 1, ...o,
});

describe("Loader", () => {
  it("eval mode: manifest order, every row once, eval transform pixels, tokens and labels", async () => {
    const dir = await goodShards(2, 6);
    const got = await collect(new Loader(base(dir, { mode: "eval", workers: 2 })));
    expect(got.map((g) => g.keys.length)).toEqual([5, 5, 2]); // last partial batch kept in eval
    const keys = got.flatMap((g) => g.keys);
    expect(keys).toEqual([0, 1].flatMap((s) => [0, 1, 2, 3, 4, 5].map((r) => `s${s}-${r}`)));
    const m = await listShards(dir);
    const shard = await openShard(path.join(dir, m.shards[1]!.file));
    // Third batch = rows 4 and 5 of shard 1.
    const ref = await preprocessImage(shard.get(5).image, { ...DEFAULT_TRANSFORM, mode: "eval", size: SIZE }, 0);
    if (!ref.ok) throw new Error(ref.message);
    expect(Array.from(got[2]!.images.subarray(SIZE * SIZE * 3))).toEqual(Array.from(ref.data));
    expect(Array.from(got[2]!.tokens.subarray(CTX, 2 * CTX))).toEqual(Array.from(charTokenize(CTX)(["a photo 1 5"])));
    expect(Array.from(got[2]!.labels!)).toEqual([4, 5]);
  });

  it("carries the real CLIP tokenizer's rows for the batch captions", async () => {
    const tok = await loadTokenizer({ kind: "clip" });
    const dir = await goodShards(1, 3);
    const got = await collect(new Loader(base(dir, { mode: "eval", batchSize: 3, contextLength: 77, tokenize: (t) => tok.tokenize(t) })), Infinity, 77);
    expect(Array.from(got[0]!.tokens)).toEqual(Array.from(tok.tokenize(["a photo 0 0", "a photo 0 1", "a photo 0 2"])));
    expect(got[0]!.tokens[0]).toBe(tok.sotId);
    expect(tok.decode(got[0]!.tokens.subarray(77, 154))).toBe("a photo 0 1");
  });

  it("gives identical batches with 0 (main thread), 1 and 3 decode workers", async () => {
    const dir = await goodShards(3, 7);
    const o = { epochs: 2, shuffleBuffer: 6, seed: 42 };
    const one = await collect(new Loader(base(dir, { ...o, workers: 1 })));
    const three = await collect(new Loader(base(dir, { ...o, workers: 3 })));
    expect(one.length).toBe(8); // 42 samples, batch 5, last partial dropped in train
    expect(three.map((g) => g.keys)).toEqual(one.map((g) => g.keys));
    three.forEach((g, i) => expect(Buffer.from(g.images.buffer).equals(Buffer.from(one[i]!.images.buffer))).toBe(true));
    const zero = await collect(new Loader(base(dir, { ...o, workers: 0 })));
    expect(zero.map((g) => g.keys)).toEqual(one.map((g) => g.keys));
    zero.forEach((g, i) => expect(Buffer.from(g.images.buffer).equals(Buffer.from(one[i]!.images.buffer))).toBe(true));
    // Shuffled (not manifest order), each epoch a permutation, different per epoch and per seed.
    const keys = one.flatMap((g) => g.keys);
    expect(keys.slice(0, 5)).not.toEqual(["s0-0", "s0-1", "s0-2", "s0-3", "s0-4"]);
    expect(new Set(keys.slice(0, 21)).size).toBe(21);
    expect(keys.slice(21, 40)).not.toEqual(keys.slice(0, 19));
    // An abandoned iterator's workers are stopped by close().
    const abandoned = new Loader(base(dir, { ...o, workers: 2 }));
    const first = (await abandoned[Symbol.asyncIterator]().next()).value!;
    expect(first.keys).toEqual(one[0]!.keys);
    tfDispose(first);
    await abandoned.close();
    const other = await collect(new Loader(base(dir, { ...o, seed: 43, epochs: 1 })));
    expect(other.flatMap((g) => g.keys)).not.toEqual(keys.slice(0, 20));
  });

  it("resumes sample-exactly from a saved state (mid-epoch, across epochs, with skips)", async () => {
    const shards: Row[][] = [];
    for (let s = 0; s < 3; s++) {
      const rows: Row[] = [];
      for (let r = 0; r < 9; r++) rows.push({ key: `s${s}-${r}`, caption: r === 4 && s === 1 ? null : `cap ${s} ${r}`, image: await makeImage("jpeg", 30 + r, 20 + s, s * 50 + r), width: 30 + r, height: 20 + s });
      shards.push(rows);
    }
    shards[2]![7]!.image = new Uint8Array([1, 2, 3]); // corrupt image
    const dir = writeShards(shards);
    const o = { epochs: 3, shuffleBuffer: 8, seed: 7, batchSize: 4, snapshotEvery: 7 };
    const full = await collect(new Loader(base(dir, o)));
    const fullLoader = new Loader(base(dir, o));
    await collect(fullLoader);
    const fullStats = fullLoader.stats();
    expect(fullStats.skipped).toBe(6); // 2 bad rows x 3 epochs
    for (const k of [1, 3, 6, 11]) {
      const first = new Loader(base(dir, o));
      const head = await collect(first, k);
      const state = JSON.parse(JSON.stringify(first.state())) as LoaderState;
      const resumed = new Loader(base(dir, { ...o, workers: 2, resumeFrom: state }));
      const tail = await collect(resumed);
      const all = [...head, ...tail];
      expect(all.map((g) => g.keys), `stop at ${k}`).toEqual(full.map((g) => g.keys));
      expect(all.map((g) => g.index)).toEqual(full.map((g) => g.index));
      all.forEach((g, i) => expect(Buffer.from(g.images.buffer).equals(Buffer.from(full[i]!.images.buffer))).toBe(true));
      expect(resumed.stats()).toEqual(fullStats);
    }
  });

  it("resampled mode draws shards with replacement, uniformly", async () => {
    // Order statistics from shardSequence directly (no decoding needed).
    const m = { shards: Array.from({ length: 4 }, (_, i) => ({ file: `f${i}`, rows: 1, sha256: "" })) } as never;
    const o = { seed: 3, shuffle: true, shuffleBuffer: 0, resampled: true, rank: 0, worldSize: 1, splitBy: "shard" as const, epochs: 1 };
    const counts = [0, 0, 0, 0];
    let epochsWithRepeat = 0;
    for (let e = 0; e < 2000; e++) {
      const seq = shardSequence(m, o, e);
      expect(seq.length).toBe(4);
      seq.forEach((s) => counts[s]!++);
      if (new Set(seq).size < 4) epochsWithRepeat++;
    }
    // chi-square, 3 dof, 99.9th percentile 16.27
    expect(counts.reduce((a, c) => a + (c - 2000) ** 2 / 2000, 0)).toBeLessThan(16.27);
    // P(4 draws from 4 all distinct) = 4!/4^4 = 0.094, so ~90.6% of epochs repeat a shard.
    expect(Math.abs(epochsWithRepeat / 2000 - 0.906)).toBeLessThan(0.03);
    // Other ranks draw differently.
    expect(shardSequence(m, { ...o, rank: 1, worldSize: 2 }, 0)).not.toEqual(shardSequence(m, { ...o, worldSize: 2 }, 0));

    // The loader yields exactly the rows of the drawn shards, repeats included.
    const dir = await goodShards(3, 4);
    const lo = { resampled: true, shardsPerEpoch: 5, seed: 11, batchSize: 4, dropLast: false, shuffleBuffer: 5 };
    const got = await collect(new Loader(base(dir, lo)));
    const seq = shardSequence(await listShards(dir), { ...o, seed: 11, shardsPerEpoch: 5 }, 0);
    expect(new Set(seq).size).toBeLessThan(5); // some shard drawn twice
    const want = new Map<string, number>();
    for (const s of seq) for (let r = 0; r < 4; r++) want.set(`s${s}-${r}`, (want.get(`s${s}-${r}`) ?? 0) + 1);
    const have = new Map<string, number>();
    for (const k of got.flatMap((g) => g.keys)) have.set(k, (have.get(k) ?? 0) + 1);
    expect(have).toEqual(want);
  });

  it("honours a row-id selection, a key selection and a per-epoch sampler", async () => {
    const dir = await goodShards(2, 6);
    const m = await listShards(dir);
    const ev = { mode: "eval" as const, batchSize: 3 };
    const byRows = await collect(new Loader(base(dir, { ...ev, selection: { [m.shards[0]!.file]: [1, 4], [m.shards[1]!.file]: [0, 5] } })));
    expect(byRows.flatMap((g) => g.keys)).toEqual(["s0-1", "s0-4", "s1-0", "s1-5"]);
    const byKeys = await collect(new Loader(base(dir, { ...ev, selection: new Set(["s1-2", "s0-3", "nope"]) })));
    expect(byKeys.flatMap((g) => g.keys)).toEqual(["s0-3", "s1-2"]);

    const calls: string[] = [];
    const sampler = (key: string, row: number, epoch: number, shard: string) => {
      calls.push(`${key}|${row}|${epoch}|${shard}`);
      return (row + epoch) % 2 === 0;
    };
    const got = await collect(new Loader(base(dir, { ...ev, epochs: 2, sampler })));
    const keys = got.flatMap((g) => g.keys);
    const want = [0, 1].flatMap((e) => [0, 1].flatMap((s) => [0, 1, 2, 3, 4, 5].filter((r) => (r + e) % 2 === 0).map((r) => `s${s}-${r}`)));
    expect(keys).toEqual(want);
    expect(calls).toContain(`s1-3|3|1|${m.shards[1]!.file}`);
    expect(calls.length).toBe(24);
  });

  it("skips and counts every bad row with its key, and still fills batches", async () => {
    const good = async (i: number): Promise<Row> => ({ key: `g${i}`, caption: `good ${i}`, image: await makeImage("jpeg", 32, 24, i), width: 32, height: 24 });
    const jpeg = await makeImage("jpeg", 64, 48, 99);
    const sharp = (await import("sharp")).default;
    const bomb = new Uint8Array(await sharp({ create: { width: 3000, height: 3000, channels: 3, background: "gray" } }).png().toBuffer());
    const bad: Row[] = [
      { key: "truncated", caption: "x", image: jpeg.subarray(0, jpeg.length >> 1), width: 64, height: 48 },
      { key: "zero-byte", caption: "x", image: new Uint8Array(0), width: 1, height: 1 },
      { key: "not-image", caption: "x", image: new TextEncoder().encode("<html>404</html>"), width: 1, height: 1 },
      { key: "bomb", caption: "x", image: bomb, width: 3000, height: 3000 },
      { key: "no-caption", caption: null, image: jpeg, width: 64, height: 48 },
      { key: "empty-caption", caption: "  ", image: jpeg, width: 64, height: 48 },
      { key: "no-image", caption: "x", image: null, width: 0, height: 0 },
      { key: null, caption: "x", image: jpeg, width: 64, height: 48 },
    ];
    const rows0 = [await good(0), bad[0]!, bad[1]!, await good(1), bad[2]!, bad[3]!, await good(2), await good(3)];
    const rows1 = [bad[4]!, await good(4), bad[5]!, bad[6]!, await good(5), bad[7]!, await good(6), await good(7), await good(8)];
    const dir = writeShards([rows0, rows1]);
    const loader = new Loader(base(dir, { mode: "eval", batchSize: 4, workers: 2, limitInputPixels: 4_000_000 }));
    const got = await collect(loader);
    expect(got.map((g) => g.keys)).toEqual([["g0", "g1", "g2", "g3"], ["g4", "g5", "g6", "g7"], ["g8"]]);
    const st = loader.stats();
    expect(st.samples).toBe(9);
    expect(st.skipped).toBe(8);
    expect(st.byReason).toEqual({ "decode-error": 2, "empty-image": 1, "too-many-pixels": 1, "bad-caption": 2, "missing-image": 1, "missing-key": 1 });
    const m = await listShards(dir);
    expect(st.byShard[m.shards[0]!.file]!.skipped).toBe(4);
    expect(st.byShard[m.shards[1]!.file]!.skipped).toBe(4);
    expect(st.skippedSamples.map((s) => `${s.key}:${s.reason}`)).toEqual([
      "truncated:decode-error", "zero-byte:empty-image", "not-image:decode-error", "bomb:too-many-pixels",
      "no-caption:bad-caption", "empty-caption:bad-caption", "no-image:missing-image", `${m.shards[1]!.file}#5:missing-key`,
    ]);
  });

  it("reports a shard cut short and keeps going", async () => {
    const dir = await goodShards(2, 3);
    const m = await listShards(dir);
    const f = path.join(dir, m.shards[0]!.file);
    truncateSync(f, Math.floor(readFileSync(f).length / 3));
    const loader = new Loader(base(dir, { mode: "eval" }));
    const keys = (await collect(loader)).flatMap((g) => g.keys);
    expect(keys).toEqual(["s1-0", "s1-1", "s1-2"]);
    expect(loader.stats().truncatedShards[m.shards[0]!.file]!.lostRows).toBe(3);
  });

  it("reads the next shard ahead but reports its problems only when it is reached", async () => {
    const dir = await goodShards(3, 20);
    const m = await listShards(dir);
    const f = path.join(dir, m.shards[1]!.file);
    truncateSync(f, Math.floor(readFileSync(f).length / 3));
    const loader = new Loader(base(dir, { mode: "eval", batchSize: 2, prefetch: 1 }));
    const keys: string[] = [];
    let checked = 0;
    for await (const b of loader) {
      keys.push(...b.keys);
      tfDispose(b);
      // Time for the read ahead to finish (a shard of 20 small rows).
      if (keys.length === 2) await new Promise((r) => setTimeout(r, 300));
      // Shard 1 is read ahead while shard 0's rows are used; the sampler,
      // 2 rows ahead of the consumer, reaches it after row 17.
      if (keys.length <= 14) {
        expect(loader.stats().truncatedShards).toEqual({});
        checked++;
      }
    }
    expect(checked).toBe(7);
    expect(Object.keys(loader.stats().truncatedShards)).toEqual([m.shards[1]!.file]);
    expect(keys.filter((k) => k.startsWith("s0-")).length).toBe(20);
    expect(keys.filter((k) => k.startsWith("s2-")).length).toBe(20);
  });

  it("skips and counts the images a shard file no longer holds when the workers read them (cut after it was opened)", async () => {
    const dir = await goodShards(1, 20);
    const m = await listShards(dir);
    const f = path.join(dir, m.shards[0]!.file);
    for (const workers of [0, 1]) {
      const bytes = readFileSync(f);
      // Rows are read in order and at most prefetch x batchSize = 2 ahead of the consumer.
      const loader = new Loader(base(dir, { mode: "eval", batchSize: 1, prefetch: 1, workers }));
      const keys: string[] = [];
      for await (const b of loader) {
        keys.push(...b.keys);
        tfDispose(b);
        if (keys.length === 1) truncateSync(f, Math.floor(bytes.length / 2));
      }
      writeFileSync(f, bytes);
      const st = loader.stats();
      // The first rows were read before the cut, the last ones lie past it.
      expect(keys.slice(0, 2)).toEqual(["s0-0", "s0-1"]);
      expect(keys).not.toContain("s0-19");
      expect(st.samples + st.skipped).toBe(20);
      expect(st.byReason["read-error"]).toBe(st.skipped);
      expect(st.skipped).toBeGreaterThanOrEqual(5);
      expect(st.skippedSamples.at(-1)).toMatchObject({ key: "s0-19", reason: "read-error", message: expect.stringContaining(path.resolve(f)) });
    }
  });

  it("splits shards or rows over ranks: disjoint, and together every row", async () => {
    const dir = await goodShards(4, 3);
    const all = Array.from({ length: 4 }, (_, s) => [0, 1, 2].map((r) => `s${s}-${r}`)).flat().sort();
    for (const splitBy of ["shard", "row"] as const) {
      const parts: string[][] = [];
      for (const rank of [0, 1, 2]) {
        if (splitBy === "shard" && rank === 2) continue;
        const worldSize = splitBy === "shard" ? 2 : 3;
        parts.push((await collect(new Loader(base(dir, { seed: 5, shuffleBuffer: 4, dropLast: false, rank, worldSize, splitBy })))).flatMap((g) => g.keys));
      }
      const union = parts.flat();
      expect(new Set(union).size, splitBy).toBe(union.length);
      expect(union.sort()).toEqual(all);
      if (splitBy === "shard") for (const p of parts) expect(new Set(p.map((k) => k.split("-")[0])).size).toBe(2);
    }
  });

  it("rejects bad options and mismatched resume states before doing work", async () => {
    const dir = await goodShards(1, 2);
    expect(() => new Loader(base(dir, { batchSize: 0 }))).toThrow(InputError);
    expect(() => new Loader(base(dir, { scale: [0.5, 1.5] }))).toThrow(/scale/);
    await expect(collect(new Loader(base(dir, { worldSize: 2, rank: 1 })))).rejects.toThrow(/splitBy/);
    const l = new Loader(base(dir, { seed: 1, batchSize: 1 }));
    await collect(l, 1);
    await expect(collect(new Loader(base(dir, { seed: 2, batchSize: 1, resumeFrom: l.state() })))).rejects.toThrow(/different options/);
    // An endless stream whose selection keeps nothing fails instead of spinning.
    await expect(collect(new Loader(base(dir, { epochs: Infinity, selection: new Set(["absent"]) })))).rejects.toThrow(/no rows/);
    writeFileSync(path.join(dir, "manifest.json"), "{");
    await expect(collect(new Loader(base(dir)))).rejects.toThrow(/manifest/);
  });
});
