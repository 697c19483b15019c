// The loader's batch tensors are views of its decode ring under the torch
// backend (no copy, released before the slots are rewritten) and copies
// under the others. Either way every batch tensor must keep its own pixels
// while later batches are made: here all batches stay alive until the end
// and are compared with batches read out one at a time.
import { describe, it, expect } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import { Loader, type LoaderOptions } from "../../src/data/loader.js";
import { setBackend, type BackendName } from "../../src/backend/index.js";
import { torchAvailable } from "../../src/backend/torch.js";
import { goodShards, charTokenize, writeShards, type Row } from "./loader-fixtures.js";
import { makeImage } from "./fixtures.js";
import { preprocessImage, DEFAULT_TRANSFORM } from "../../src/image/transforms.js";
import { loadTokenizer } from "../../src/text/tokenizer.js";

const options = (dir: string) => ({
  dir, batchSize: 4, tokenize: charTokenize(8), contextLength: 8,
  imageSize: 8, workers: 1, seed: 5, mode: "eval" as const,
});

describe("Loader batch buffers", () => {
  it("every batch keeps its own pixels while later batches are made, on every backend", async () => {
    const dir = await goodShards(2, 6);
    await setBackend("cpu");
    const reference: Float32Array[] = [];
    for await (const b of new Loader(options(dir))) {
      reference.push(b.images.dataSync() as Float32Array);
      tf.dispose([b.images, b.tokens]);
    }
    expect(reference.length).toBe(3);
    // Batches differ, so a buffer shared between them would show.
    expect(reference[0]).not.toEqual(reference[1]);
    const backends: BackendName[] = ["cpu", "wasm", ...(torchAvailable().available ? (["torch"] as const) : [])];
    for (const name of backends) {
      await setBackend(name);
      const kept: tf.Tensor[] = [];
      for await (const b of new Loader(options(dir))) {
        kept.push(b.images);
        b.tokens.dispose();
      }
      expect(kept.map((t) => t.dataSync() as Float32Array), name).toEqual(reference);
      tf.dispose(kept);
    }
  });

  // The workers normalize into a ring of slots; a batch of consecutive slots
  // is handed over as a view of the ring, any other (a skipped row in it, or
  // the ring wrapping round) is packed first. 23 good rows and 2 bad ones in
  // batches of 4 with a ring of 12 slots take both paths several times; every
  // image must equal the reference transform of its own row.
  it("batches from the decode ring hold each row's own pixels, across skips and wrap-round, on every backend", async () => {
    const size = 8;
    const rows: Row[] = [];
    for (let i = 0; i < 25; i++) {
      const bad = i === 6 || i === 17;
      const image = bad ? new TextEncoder().encode("not an image") : await makeImage("jpeg", 20 + i, 16 + (i % 5), i);
      rows.push({ key: `r${i}`, caption: `row ${i}`, image, width: 20 + i, height: 16 + (i % 5) });
    }
    const dir = writeShards([rows.slice(0, 13), rows.slice(13)]);
    const spec = { ...DEFAULT_TRANSFORM, mode: "eval" as const, size };
    const want = new Map<string, Float32Array>();
    for (const r of rows) {
      const p = await preprocessImage(r.image!, spec, 0);
      if (p.ok) want.set(r.key!, p.data);
    }
    expect(want.size).toBe(23);
    const backends: BackendName[] = ["cpu", "wasm", ...(torchAvailable().available ? (["torch"] as const) : [])];
    for (const name of backends) {
      await setBackend(name);
      for (const workers of [0, 2]) {
        const kept: { keys: string[]; images: tf.Tensor }[] = [];
        const loader = new Loader({ ...options(dir), imageSize: size, workers });
        for await (const b of loader) {
          kept.push({ keys: b.keys, images: b.images });
          b.tokens.dispose();
        }
        expect(loader.stats().skipped).toBe(2);
        expect(kept.flatMap((k) => k.keys)).toEqual([...want.keys()]);
        for (const k of kept) {
          const px = k.images.dataSync() as Float32Array;
          k.keys.forEach((key, i) => expect(px.subarray(i * size * size * 3, (i + 1) * size * size * 3), `${name} ${workers} ${key}`).toEqual(want.get(key)));
        }
        tf.dispose(kept.map((k) => k.images));
      }
    }
  });

  // Captions tokenized in the decode workers (a tokenizer spec) land beside
  // their images in ring slots: across skips and wrap-round every row's ids
  // must be those the same CLIP tokenizer gives on the main thread.
  it("workers tokenize each row's caption into its slot: the same ids as tokenizing on the main thread", async () => {
    const rows: Row[] = [];
    for (let i = 0; i < 25; i++) {
      const bad = i === 6 || i === 17;
      const image = bad ? new TextEncoder().encode("not an image") : await makeImage("jpeg", 20 + i, 16, i);
      rows.push({ key: `r${i}`, caption: `a photo of ${"thing ".repeat(i % 4)}number ${i}, naïve café ☕`, image, width: 20 + i, height: 16 });
    }
    const dir = writeShards([rows.slice(0, 13), rows.slice(13)]);
    const ctx = 12;
    const tok = await loadTokenizer({ kind: "clip", contextLength: ctx });
    await setBackend("cpu");
    const base = { ...options(dir), contextLength: ctx, mode: "train" as const, seed: 3 };
    const read = async (o: Partial<LoaderOptions>) => {
      const out: { keys: string[]; tokens: number[] }[] = [];
      for await (const b of new Loader({ ...base, ...o })) {
        out.push({ keys: b.keys, tokens: Array.from(b.tokens.dataSync()) });
        tf.dispose([b.images, b.tokens]);
      }
      return out;
    };
    const want = await read({ workers: 2, tokenize: (t) => tok.tokenize(t, ctx) });
    expect(want.flatMap((b) => b.keys).length).toBe(20); // 23 good rows, the last partial batch dropped
    // Each row's ids are its own caption's (not a neighbour's).
    const byKey = new Map(rows.map((r) => [r.key!, Array.from(tok.tokenize([r.caption as string], ctx))]));
    for (const b of want) b.keys.forEach((k, i) => expect(b.tokens.slice(i * ctx, (i + 1) * ctx)).toEqual(byKey.get(k)));
    for (const workers of [2, 0]) expect(await read({ workers, tokenize: undefined, tokenizer: { kind: "clip", contextLength: ctx } }), `workers ${workers}`).toEqual(want);
    expect(() => new Loader({ ...base, tokenize: (t) => tok.tokenize(t, ctx), tokenizer: { kind: "clip" } })).toThrow(/not both/);
  });
});
