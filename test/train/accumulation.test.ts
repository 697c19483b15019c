import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { createModel, disposeModel } from "../../src/model/index.js";
import { modelObjective } from "../../src/train/objective.js";
import { computeGradients, splitBatch } from "../../src/train/step.js";
import { Rng } from "../../src/util/hash.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

function batch(n: number, size: number, ctx: number, seed: number) {
  const rng = new Rng(seed);
  const images = tf.tensor4d(Float32Array.from({ length: n * size * size * 3 }, () => rng.next() * 2 - 1), [n, size, size, 3]);
  const ids = new Int32Array(n * ctx);
  for (let i = 0; i < n; i++) {
    const len = 3 + rng.int(ctx - 4);
    ids[i * ctx] = 49406;
    for (let j = 1; j < len; j++) ids[i * ctx + j] = 1 + rng.int(49000);
    ids[i * ctx + len] = 49407;
  }
  return { images, tokens: tf.tensor2d(ids, [n, ctx], "int32") };
}

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < x.length; i++) {
    scale = Math.max(scale, Math.abs(y[i]!));
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
  }
  return diff / Math.max(scale, 1e-12);
}

describe.each(["micro", "micro-siglip"])("gradient accumulation (%s)", (name) => {
  it("k micro-batches give the full-batch loss and gradients", () => {
    const model = createModel(name, { seed: 3 });
    const { images, tokens } = batch(8, model.config.vision.imageSize, model.config.text.contextLength, 11);
    const full = computeGradients(model, splitBatch(images, tokens, 1), modelObjective);
    for (const k of [2, 4]) {
      const live = tf.memory().numTensors;
      const micro = splitBatch(images, tokens, k);
      const acc = computeGradients(model, micro, modelObjective);
      for (const m of micro) tf.dispose([m.images, m.tokens]);
      expect(acc.loss.dataSync()[0]).toBeCloseTo(full.loss.dataSync()[0]!, 5);
      acc.loss.dispose();
      expect([...acc.grads.keys()].sort()).toEqual([...full.grads.keys()].sort());
      for (const [n, g] of full.grads) {
        const rel = maxRelDiff(acc.grads.get(n)!, g);
        if (rel > 1e-4) throw new Error(`${name} k=${k}: ${n} differs by ${rel}`);
      }
      // The logit scale's gradient is counted once, not k times (open_clip sums it per pass).
      expect(acc.grads.get("logit_scale")!.dataSync()[0]).toBeCloseTo(full.grads.get("logit_scale")!.dataSync()[0]!, 5);
      for (const g of acc.grads.values()) g.dispose();
      expect(tf.memory().numTensors).toBe(live); // cached features and partial sums are freed
    }
    // Non-trivial gradients everywhere, so the comparison means something.
    for (const [n, g] of full.grads) {
      if (tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]!) === 0) throw new Error(`${n}: zero gradient`);
    }
    for (const g of full.grads.values()) g.dispose();
    tf.dispose([images, tokens, full.loss]);
    disposeModel(model);
  });
});
