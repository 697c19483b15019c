// Gradient checkpointing (train.grad_checkpointing): the same gradients as the
// plain model through the trainer's own gradient path, on the cpu backend and
// on the torch backend, and a lower peak of tensor memory on the torch backend
// (the addon counts every tensor it holds).
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setBackend } from "../../src/backend/index.js";
import { registerTorchBackend, torchAvailable, torchNativeMemory } from "../../src/backend/torch.js";
import { createModel, disposeModel, getModelConfig, type ModelConfig } from "../../src/model/index.js";
import { computeGradients, splitBatch } from "../../src/train/step.js";
import { modelObjective } from "../../src/train/objective.js";

// Activations dominate the weights: 65 image tokens, 4 blocks per tower, batch 16.
function config(loss: "clip" | "siglip"): ModelConfig {
  const c = getModelConfig(loss === "clip" ? "micro" : "micro-siglip");
  return { ...c, vision: { ...c.vision, imageSize: 32, patchSize: 4, layers: 4 }, text: { ...c.text, vocabSize: 64, layers: 4 } };
}

function batch(c: ModelConfig, b: number): { images: tf.Tensor4D; tokens: tf.Tensor2D } {
  const s = c.vision.imageSize;
  const img = Float32Array.from({ length: b * s * s * 3 }, (_, i) => Math.sin(i * 0.37) * 0.9);
  const ctx = c.text.contextLength;
  const tok = Int32Array.from({ length: b * ctx }, (_, i) => (i % ctx === ctx - 1 ? 63 : ((i * 131) % 61) + 1));
  return { images: tf.tensor4d(img, [b, s, s, 3]), tokens: tf.tensor2d(tok, [b, ctx], "int32") };
}

/** Loss, every gradient (host copies) and the peak tensor bytes of one step on the active backend. */
function step(c: ModelConfig, ckpt: boolean, accum = 1): { loss: number; grads: Map<string, Float32Array>; peak: number | null } {
  const model = createModel(c, { seed: 3, gradCheckpointing: ckpt });
  const { images, tokens } = batch(c, 16);
  const torch = tf.getBackend() === "torch";
  if (torch) torchNativeMemory(true);
  const micro = splitBatch(images, tokens, accum);
  const { loss, grads } = computeGradients(model, micro, modelObjective);
  const peak = torch ? torchNativeMemory(true).peakBytes : null;
  const out = { loss: loss.dataSync()[0]!, grads: new Map([...grads].map(([n, g]) => [n, g.dataSync() as Float32Array])), peak };
  tf.dispose([loss, ...grads.values(), images, tokens, ...(accum > 1 ? micro.flatMap((m) => [m.images, m.tokens]) : [])]);
  disposeModel(model);
  return out;
}

function expectSameGrads(a: Map<string, Float32Array>, b: Map<string, Float32Array>, tol: number): void {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [n, ga] of a) {
    const gb = b.get(n)!;
    let scale = 0, diff = 0;
    for (let i = 0; i < ga.length; i++) {
      scale = Math.max(scale, Math.abs(ga[i]!));
      diff = Math.max(diff, Math.abs(ga[i]! - gb[i]!));
    }
    expect(diff, `${n}: max |Δ| ${diff} vs max |g| ${scale}`).toBeLessThanOrEqual(tol * Math.max(scale, 1e-6));
  }
}

describe("gradient checkpointing on the cpu backend", () => {
  beforeAll(async () => {
    await setBackend("cpu");
  });
  for (const loss of ["clip", "siglip"] as const) {
    it(`${loss}: loss and every gradient equal the plain model's`, () => {
      const plain = step(config(loss), false);
      const ck = step(config(loss), true);
      expect(ck.loss).toBeCloseTo(plain.loss, 6);
      expectSameGrads(plain.grads, ck.grads, 1e-5);
    });
  }
  it("with 2 micro-batches (accum_freq) too", () => {
    const plain = step(config("clip"), false, 2);
    const ck = step(config("clip"), true, 2);
    expect(ck.loss).toBeCloseTo(plain.loss, 6);
    expectSameGrads(plain.grads, ck.grads, 1e-5);
  });
});

const { available, reason } = torchAvailable();
describe.skipIf(!available)(`gradient checkpointing on the torch backend${available ? "" : ` (SKIPPED: ${reason})`}`, () => {
  beforeAll(async () => {
    await setBackend("torch");
  });
  afterAll(async () => {
    await setBackend("cpu");
  });
  it("same gradients as the plain model and a lower peak of tensor memory", () => {
    const plain = step(config("clip"), false);
    const live = torchNativeMemory().live;
    const ck = step(config("clip"), true);
    // Every recompute's tape and every saved block input is freed.
    expect(torchNativeMemory().live).toBe(live);
    expect(ck.loss).toBeCloseTo(plain.loss, 5);
    expectSameGrads(plain.grads, ck.grads, 1e-4);
    console.log(`grad checkpointing peak ${ck.peak} B vs plain ${plain.peak} B (${(ck.peak! / plain.peak!).toFixed(3)})`);
    // 8 blocks' activations vs one block's plus 8 block inputs: well under 3/4.
    expect(ck.peak!).toBeLessThan(0.75 * plain.peak!);
  });

  it("under bf16 autocast too (the recompute runs the same bf16 kernels)", async () => {
    registerTorchBackend({ bf16: true });
    await tf.setBackend("torch");
    try {
      const plain = step(config("clip"), false);
      const ck = step(config("clip"), true);
      expect(ck.loss).toBeCloseTo(plain.loss, 4);
      expectSameGrads(plain.grads, ck.grads, 1e-3);
      expect(ck.peak!).toBeLessThan(0.75 * plain.peak!);
    } finally {
      registerTorchBackend({ bf16: false });
    }
  });
});
