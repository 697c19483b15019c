// The loader reuses one batch buffer under backends that copy tensor values
// at creation (torch, wasm) and allocates a fresh one under those that keep
// the array (cpu). Either way every batch tensor must keep its own pixels
// while later batches are made: here all batches stay alive until the end
// and are compared with batches read out one at a time.
import { describe, it, expect } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import { Loader } from "../../src/data/loader.js";
import { setBackend, type BackendName } from "../../src/backend/index.js";
import { torchAvailable } from "../../src/backend/torch.js";
import { goodShards, charTokenize } from "./loader-fixtures.js";

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
});
