// A full CLIP training step (loss, every gradient, AdamW-updated weights) on
// the torch backend against the cpu backend, same weights and batch. Needs
// the model and loss modules (model branch); skipped with the reason if absent.
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import {
  registerTorchBackend, registerTorchFusedOps, torchAvailable, torchFusedOps, torchNativeMemory,
} from "../../src/backend/torch.js";
import { Rng } from "../../src/util/hash.js";
import "./torch-helpers.js";

// Computed specifiers: this file must compile before the model branch is merged.
const modelSpec = "../../src/model/index.js";
const lossSpec = "../../src/loss/index.js";
type ModelConfig = import("../../src/model/types.js").ModelConfig;
type ModelMod = {
  getModelConfig(name: string): ModelConfig;
  createModel(c: ModelConfig, o?: { seed?: number }): import("../../src/model/types.js").ClipModel;
  disposeModel(m: unknown): void;
};
type LossMod = { modelLoss(m: unknown, images: tf.Tensor4D, tokens: tf.Tensor2D): tf.Scalar };
const model = (await import(modelSpec).catch(() => null)) as ModelMod | null;
const loss = (await import(lossSpec).catch(() => null)) as LossMod | null;
const registrySpec = "../../src/model/ops/registry.js";
type RegistryMod = {
  registerFusedOp(b: string, op: string, f: unknown): void;
  unregisterFusedOp(b: string, op: string): void;
  fusedOp(op: string): unknown;
};
const registry = (await import(registrySpec).catch(() => null)) as RegistryMod | null;

const { available, reason } = torchAvailable();
const skipReason = !available ? reason : !model || !loss ? "src/model or src/loss not present (model branch not merged)" : "";

/** PyTorch AdamW (decoupled decay), enough for one comparable step. */
function adamwStep(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number, wd: number): void {
  const b1 = 0.9, b2 = 0.98, eps = 1e-6;
  for (const [name, p] of params) {
    const g = grads.get(name);
    if (!g) continue;
    tf.tidy(() => {
      const m = tf.mul(g, 1 - b1), v = tf.mul(tf.square(g), 1 - b2);
      const decayed = p.rank >= 2 ? tf.mul(p, 1 - lr * wd) : p;
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - b2)), eps);
      p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / (1 - b1))));
    });
  }
}

interface StepResult {
  loss: number;
  grads: Map<string, Float32Array>;
  weights: Map<string, Float32Array>;
}

async function trainStep(backend: string): Promise<StepResult> {
  await tf.setBackend(backend);
  // The micro architecture with a 1000-token vocabulary: tfjs-cpu (the
  // reference) needs minutes for the 49,408-row embedding gradient.
  const base = model!.getModelConfig("micro");
  const m = model!.createModel({ ...base, text: { ...base.text, vocabSize: 1000 } }, { seed: 3 });
  const rng = new Rng(11);
  const b = 4, s = m.config.vision.imageSize, ctx = m.config.text.contextLength;
  const img = new Float32Array(b * s * s * 3).map(() => rng.next() * 2 - 1);
  const tok = new Int32Array(b * ctx);
  for (let i = 0; i < b; i++) {
    const len = 3 + rng.int(ctx - 4);
    tok[i * ctx] = 998; // start; 999 = end (the highest id, pooled by argmax)
    for (let j = 1; j < len; j++) tok[i * ctx + j] = 1 + rng.int(990);
    tok[i * ctx + len] = 999;
  }
  const images = tf.tensor4d(img, [b, s, s, 3]);
  const tokens = tf.tensor2d(tok, [b, ctx], "int32");
  const vars = [...m.params.values()];
  const { value, grads } = tf.variableGrads(() => loss!.modelLoss(m, images, tokens), vars);
  const gradByName = new Map<string, tf.Tensor>();
  for (const [name, v] of m.params) gradByName.set(name, grads[v.name]);
  const out: StepResult = { loss: value.dataSync()[0], grads: new Map(), weights: new Map() };
  for (const [name, g] of gradByName) out.grads.set(name, g.dataSync() as Float32Array);
  adamwStep(m.params, gradByName, 1e-3, 0.1);
  for (const [name, p] of m.params) out.weights.set(name, p.dataSync() as Float32Array);
  tf.dispose([images, tokens, value, ...Object.values(grads)]);
  model!.disposeModel(m);
  return out;
}

describe.skipIf(skipReason !== "")(`torch training step vs cpu${skipReason ? ` (SKIPPED: ${skipReason})` : ""}`, () => {
  for (const variant of ["fused ops", "reference ops"] as const) {
    it(`micro CLIP (${variant} on torch): loss, every gradient and AdamW-updated weights match`, async () => {
      registerTorchBackend();
      if (registry) registerTorchFusedOps(registry);
      const ops = Object.keys(torchFusedOps());
      if (variant === "reference ops") for (const op of ops) registry?.unregisterFusedOp("torch", op);
      const ref = await trainStep("cpu");
      const before = torchNativeMemory().live;
      await tf.setBackend("torch");
      if (registry) expect(registry.fusedOp("layerNorm") !== undefined).toBe(variant === "fused ops");
      const got = await trainStep("torch");
      if (registry) registerTorchFusedOps(registry);
      expect(torchNativeMemory().live).toBe(before);
      expect(Math.abs(got.loss - ref.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.loss)));
      expect([...got.grads.keys()].sort()).toEqual([...ref.grads.keys()].sort());
      for (const [name, r] of ref.grads) {
        const g = got.grads.get(name)!;
        // Relative to the gradient's own scale: float32 summation order differs.
        let scale = 0, err = 0;
        for (let i = 0; i < r.length; i++) {
          scale = Math.max(scale, Math.abs(r[i]));
          err = Math.max(err, Math.abs(g[i] - r[i]));
        }
        expect(err, `grad ${name}: max err ${err} vs scale ${scale}`).toBeLessThanOrEqual(2e-3 * scale + 1e-7);
      }
      for (const [name, r] of ref.weights) {
        const g = got.weights.get(name)!;
        const gr = ref.grads.get(name)!;
        let scale = 0;
        for (const x of gr) scale = Math.max(scale, Math.abs(x));
        // A first AdamW step moves a weight by lr·g/(|g|+eps) ≈ ±lr, so where the
        // gradient is clearly non-zero both backends must agree closely; near-zero
        // gradients may legitimately flip sign between float32 summation orders.
        let err = 0, checked = 0;
        for (let i = 0; i < r.length; i++) {
          if (Math.abs(gr[i]) < 1e-2 * scale) continue;
          checked++;
          err = Math.max(err, Math.abs(g[i] - r[i]));
        }
        expect(checked, `weight ${name}: entries checked`).toBeGreaterThan(0);
        expect(err, `weight ${name}`).toBeLessThanOrEqual(2e-5);
      }
    });
  }
});
