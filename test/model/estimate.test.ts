// The per-GPU memory estimate of `clipts train --dry-run` against the peak the
// torch backend measures for one training step (weights, gradients, AdamW
// moments and what the backward keeps), on the CPU.
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { setBackend } from "../../src/backend/index.js";
import { torchAvailable, torchNativeMemory } from "../../src/backend/torch.js";
import { createModel, disposeModel, getModelConfig, gpuMemory } from "../../src/model/index.js";
import { AdamW } from "../../src/train/adamw.js";
import { modelObjective } from "../../src/train/objective.js";
import { computeGradients, splitBatch } from "../../src/train/step.js";

describe.skipIf(!torchAvailable().available)("gpuMemory", () => {
  it("is within 25% of the torch backend's measured peak of a training step, at two batch sizes", async () => {
    await setBackend("torch");
    const c = getModelConfig("tiny");
    for (const B of [16, 64]) {
      const model = createModel(c, { seed: 0 });
      const opt = new AdamW(model.params, { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 });
      const s = c.vision.imageSize, ctx = c.text.contextLength;
      const img = tf.randomNormal([B, s, s, 3]) as tf.Tensor4D;
      const tok = tf.tensor2d(new Int32Array(B * ctx).map((_, i) => (i % ctx === ctx - 1 ? 49407 : 1 + (i % 900))), [B, ctx], "int32");
      const before = torchNativeMemory(true).bytes;
      const { loss, grads } = computeGradients(model, splitBatch(img, tok, 1), modelObjective);
      opt.apply(grads, 1e-4);
      // What this step held at its peak: the model, its gradients and moments, the activations.
      const measured = torchNativeMemory().peakBytes - before + [...model.params.values(), ...opt.expAvg.values(), ...opt.expAvgSq.values()].reduce((a, v) => a + 4 * v.size, 0);
      const est = gpuMemory(c, { globalBatch: B, worldSize: 1, accumFreq: 1, bf16: false, gradCheckpointing: false, zero1: false }).total;
      expect(est / measured, `batch ${B}: estimate ${est} vs measured ${measured}`).toBeGreaterThan(0.75);
      expect(est / measured, `batch ${B}: estimate ${est} vs measured ${measured}`).toBeLessThan(1.25);
      tf.dispose([loss, ...grads.values(), img, tok]);
      opt.dispose();
      disposeModel(model);
    }
    // ZeRO-1 divides the moments, checkpointing shrinks activations, bf16 halves most of them.
    const o = { globalBatch: 32768, worldSize: 256, accumFreq: 1, bf16: true, gradCheckpointing: true, zero1: false };
    const big = getModelConfig("ViT-bigG-14");
    expect(gpuMemory(big, { ...o, zero1: true }).moments).toBeCloseTo(gpuMemory(big, o).moments / 256, 0);
    expect(gpuMemory(big, o).activations).toBeLessThan(gpuMemory(big, { ...o, gradCheckpointing: false }).activations / 5);
    expect(gpuMemory(big, { ...o, gradCheckpointing: false }).activations).toBeLessThan(gpuMemory(big, { ...o, gradCheckpointing: false, bf16: false }).activations * 0.6);
  });
});
