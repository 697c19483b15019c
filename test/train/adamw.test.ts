import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { AdamW, excludedFromDecay } from "../../src/train/adamw.js";
import { clipByGlobalNorm, globalNorm } from "../../src/train/grads.js";
import { Rng } from "../../src/util/hash.js";
import { setBackend } from "../../src/backend/index.js";
import { torchAvailable } from "../../src/backend/torch.js";

const torch = torchAvailable();

beforeAll(async () => {
  await tf.setBackend("cpu");
});

// Parameters named and shaped as in open_clip's state dict.
const SHAPES: Record<string, number[]> = {
  "visual.proj": [4, 3],
  positional_embedding: [5, 4],
  "visual.class_embedding": [4],
  "visual.transformer.resblocks.0.ln_1.weight": [4],
  "visual.transformer.resblocks.0.attn.in_proj_bias": [12],
  "token_embedding.weight": [7, 4],
  logit_scale: [],
};

function rand(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.next() * 2 - 1);
}

describe("AdamW", () => {
  it("excludes exactly open_clip's gain/bias set from weight decay", () => {
    const ex = Object.entries(SHAPES).filter(([n, s]) => excludedFromDecay(n, s)).map(([n]) => n);
    expect(ex.sort()).toEqual(
      ["logit_scale", "visual.class_embedding", "visual.transformer.resblocks.0.attn.in_proj_bias", "visual.transformer.resblocks.0.ln_1.weight"].sort(),
    );
    // 2-D embeddings are decayed in open_clip; a 2-D weight with "ln" in the name is not.
    expect(excludedFromDecay("positional_embedding", [77, 512])).toBe(false);
    expect(excludedFromDecay("visual.ln_post.weight2d", [4, 4])).toBe(true);
  });

  const cases = ["host", "tensor", ...(torch.available ? (["torch-fused"] as const) : [])] as const;
  if (!torch.available) it.skip(`torch-fused update: ${torch.reason}`, () => {});
  it.each(cases)("matches a float64 PyTorch-AdamW reference over 3 steps, decay excluded where it must be (%s update)", async (kind) => {
    // "torch-fused": the torch backend's one-call update, which AdamW picks by itself there.
    if (kind === "torch-fused") await setBackend("torch");
    const update = kind === "torch-fused" ? "auto" : kind;
    const rng = new Rng(7);
    const opts = { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.2, update };
    const lrs = [1e-2, 5e-3, 2e-2];
    const init = new Map(Object.entries(SHAPES).map(([n, s]) => [n, rand(rng, s.reduce((a, b) => a * b, 1))]));
    const grads = lrs.map(() => new Map(Object.entries(SHAPES).map(([n, s]) => [n, rand(rng, s.reduce((a, b) => a * b, 1))])));

    const before = tf.memory().numTensors;
    const params = new Map(Object.entries(SHAPES).map(([n, s]) => [n, tf.tidy(() => tf.variable(tf.tensor(Float32Array.from(init.get(n)!), s)))]));
    const opt = new AdamW(params, opts);
    for (let t = 0; t < lrs.length; t++) {
      const g = new Map(Object.entries(SHAPES).map(([n, s]) => [n, tf.tensor(Float32Array.from(grads[t]!.get(n)!), s)]));
      opt.apply(g, lrs[t]!);
      for (const x of g.values()) x.dispose();
    }

    // Reference: torch.optim.AdamW step, written elementwise in float64 (lerp form of the first moment).
    for (const [name, shape] of Object.entries(SHAPES)) {
      const decay = !excludedFromDecay(name, shape);
      const reference = (withDecay: boolean) => {
      const p = Float64Array.from(init.get(name)!);
      const m = new Float64Array(p.length);
      const v = new Float64Array(p.length);
      for (let t = 1; t <= lrs.length; t++) {
        const lr = lrs[t - 1]!;
        const g = grads[t - 1]!.get(name)!;
        for (let i = 0; i < p.length; i++) {
          if (withDecay) p[i]! *= 1 - lr * opts.weightDecay;
          m[i] = m[i]! + (g[i]! - m[i]!) * (1 - opts.beta1);
          v[i] = v[i]! * opts.beta2 + g[i]! * g[i]! * (1 - opts.beta2);
          const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - opts.beta2 ** t) + opts.eps;
          p[i] = p[i]! - (lr / (1 - opts.beta1 ** t)) * (m[i]! / denom);
        }
      }
      return p;
      };
      const p = reference(decay);
      const got = params.get(name)!.dataSync();
      for (let i = 0; i < p.length; i++) expect(Math.abs(got[i]! - p[i]!)).toBeLessThan(1e-6);
      // And the decay really mattered: without it the decayed params would differ.
      if (decay) {
        const noDecay = reference(false);
        const diff = Math.max(...Array.from(got, (x, i) => Math.abs(x - noDecay[i]!)));
        expect(diff).toBeGreaterThan(1e-5);
      }
    }
    expect(opt.step).toBe(3);
    opt.dispose();
    for (const p of params.values()) p.dispose();
    expect(tf.memory().numTensors).toBe(before); // the optimizer leaves nothing behind
    if (kind === "torch-fused") await setBackend("cpu");
  });
});

describe("gradient clipping", () => {
  it("computes the global norm and scales only when above max", () => {
    const a = tf.tensor([3, 0]);
    const b = tf.tensor([[0, 4]]);
    const g = new Map<string, tf.Tensor>([["a", a], ["b", b]]);
    const read = (t: tf.Scalar) => {
      const v = t.dataSync()[0]!;
      t.dispose();
      return v;
    };
    expect(read(globalNorm(g))).toBeCloseTo(5, 6);
    expect(read(clipByGlobalNorm(g, 1))).toBeCloseTo(5, 6);
    expect(read(globalNorm(g))).toBeCloseTo(5 / (5 + 1e-6), 6);
    expect(Array.from(g.get("a")!.dataSync())).toEqual([expect.closeTo(0.6, 6), 0]);
    const before = Array.from(g.get("b")!.dataSync());
    read(clipByGlobalNorm(g, 10)); // below max: untouched
    expect(Array.from(g.get("b")!.dataSync())).toEqual(before);
    for (const t of g.values()) t.dispose();
  });
});
