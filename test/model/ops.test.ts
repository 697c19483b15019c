// Custom ops: forward and hand-written backward against float64 formulas with
// finite differences, and against tfjs autodiff of the same composed ops.
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend/index.js";
import { attention, embedding, gelu, layerNorm, linear, quickGelu, registerFusedOp, softmaxCrossEntropy, unregisterFusedOp, causalMask } from "../../src/model/ops/index.js";
import { attention64, closeness, dot64, gelu64, layerNorm64, numGrad, quickGelu64, randn, softmaxCE64 } from "./ref64.js";

beforeAll(async () => {
  await setBackend("cpu");
});

const f32 = (a: Float64Array) => Float64Array.from(a, Math.fround);
const t = (a: Float64Array, shape: number[]) => tf.tensor(Float32Array.from(a), shape);

/**
 * Gradients of L = Σ w·op(inputs) from tfjs (custom backward) and from float64
 * finite differences of the reference; both returned per input.
 */
function gradsBoth(
  inputs: { v: Float64Array; shape: number[] }[],
  op: (...xs: tf.Tensor[]) => tf.Tensor,
  ref: (...xs: Float64Array[]) => Float64Array,
  w: Float64Array,
): { got: Float32Array[]; want: Float64Array[]; value: Float32Array; refValue: Float64Array } {
  const xs = inputs.map((i) => t(i.v, i.shape));
  const wT = t(w, [w.length]);
  const lossFn = (...a: tf.Tensor[]) => tf.sum(tf.mul(tf.reshape(op(...a), [-1]), wT));
  const got = tf.grads(lossFn)(xs).map((g) => g.dataSync() as Float32Array);
  const value = op(...xs).dataSync() as Float32Array;
  const vals = inputs.map((i) => f32(i.v));
  const want = vals.map((_, k) => numGrad((x) => { const a = [...vals]; a[k] = x; return dot64(ref(...a), w); }, Float64Array.from(vals[k]!)));
  return { got, want, value, refValue: ref(...vals) };
}

describe("layerNorm", () => {
  it("matches the float64 formula and finite differences", () => {
    const n = 5, c = 7;
    const x = randn(n * c, 1, 2);
    const g = randn(c, 2, 1);
    const b = randn(c, 3, 1);
    const r = gradsBoth([{ v: x, shape: [n, c] }, { v: g, shape: [c] }, { v: b, shape: [c] }],
      (a, gg, bb) => layerNorm(a!, gg!, bb!, 1e-5), (a, gg, bb) => layerNorm64(a!, gg!, bb!, c, 1e-5), randn(n * c, 4));
    expect(closeness(r.value, r.refValue, 1e-4, 1e-5)).toBeLessThan(1);
    for (let k = 0; k < 3; k++) expect(closeness(r.got[k]!, r.want[k]!, 2e-3, 2e-4)).toBeLessThan(1);
  });

  it("handles rank-3 input and equals tfjs autodiff of the composed formula", () => {
    const x = tf.randomNormal([2, 3, 6], 0, 1, "float32", 5);
    const g = tf.randomNormal([6], 1, 0.5, "float32", 6);
    const b = tf.randomNormal([6], 0, 0.5, "float32", 7);
    const w = tf.randomNormal([2, 3, 6], 0, 1, "float32", 8);
    const composed = (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const m = tf.mean(a, -1, true);
      const v = tf.mean(tf.square(tf.sub(a, m)), -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(a, m), tf.sqrt(tf.add(v, 1e-5))), gg), bb);
    };
    const mine = tf.grads((a, gg, bb) => tf.sum(tf.mul(layerNorm(a!, gg!, bb!), w)))([x, g, b]);
    const auto = tf.grads((a, gg, bb) => tf.sum(tf.mul(composed(a!, gg!, bb!), w)))([x, g, b]);
    for (let k = 0; k < 3; k++) expect(closeness(mine[k]!.dataSync(), auto[k]!.dataSync(), 1e-4, 1e-5)).toBeLessThan(1);
  });
});

describe("gelu and quickGelu", () => {
  const x = Float64Array.from(randn(40, 11, 1.3), (v) => Math.max(-3.9, Math.min(3.9, v)));
  it("exact GELU value and derivative", () => {
    const r = gradsBoth([{ v: x, shape: [40] }], (a) => gelu(a!), (a) => a!.map(gelu64), randn(40, 12));
    expect(closeness(r.value, r.refValue, 1e-5, 1e-6)).toBeLessThan(1);
    expect(closeness(r.got[0]!, r.want[0]!, 1e-4, 1e-5)).toBeLessThan(1);
  });
  it("QuickGELU value and derivative", () => {
    const r = gradsBoth([{ v: x, shape: [40] }], (a) => quickGelu(a!), (a) => a!.map(quickGelu64), randn(40, 13));
    expect(closeness(r.value, r.refValue, 1e-5, 1e-6)).toBeLessThan(1);
    expect(closeness(r.got[0]!, r.want[0]!, 1e-4, 1e-5)).toBeLessThan(1);
  });
  it("GELU is not QuickGELU (the two are distinguishable)", () => {
    const a = gelu(tf.tensor1d([1])).dataSync()[0]!;
    const b = quickGelu(tf.tensor1d([1])).dataSync()[0]!;
    expect(a).toBeCloseTo(0.8413447, 6);
    expect(b).toBeCloseTo(1 / (1 + Math.exp(-1.702)), 6);
  });
});

describe("attention", () => {
  const bh = 2, d = 4;
  for (const [tq, tk, causal] of [[5, 5, false], [5, 5, true], [1, 6, false]] as const) {
    it(`tq=${tq} tk=${tk} causal=${causal}: value and gradients of q, k, v`, () => {
      const q = randn(bh * tq * d, 21, 1), k = randn(bh * tk * d, 22, 1), v = randn(bh * tk * d, 23, 1);
      const r = gradsBoth(
        [{ v: q, shape: [1, bh, tq, d] }, { v: k, shape: [1, bh, tk, d] }, { v: v, shape: [1, bh, tk, d] }],
        (a, b, c) => attention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, causal),
        (a, b, c) => attention64(a!, b!, c!, bh, tq, tk, d, causal), randn(bh * tq * d, 24));
      expect(closeness(r.value, r.refValue, 1e-4, 1e-5)).toBeLessThan(1);
      for (let i = 0; i < 3; i++) expect(closeness(r.got[i]!, r.want[i]!, 2e-3, 2e-4)).toBeLessThan(1);
    });
  }

  it("causal mask blocks future tokens: perturbing token j leaves outputs < j unchanged", () => {
    const x = tf.randomNormal([1, 2, 6, 4], 0, 1, "float32", 30);
    const base = attention(x, x, x, true).arraySync()[0]!;
    const bumped = tf.add(x, tf.tensor4d(Array.from({ length: 48 }, (_, i) => (Math.floor(i / 4) % 6 === 4 ? 5 : 0)), [1, 2, 6, 4])) as tf.Tensor4D;
    const out = attention(bumped, bumped, bumped, true).arraySync()[0]!;
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 4; i++) expect(closeness(out[h]![i]!, base[h]![i]!, 1e-6, 1e-6)).toBeLessThan(1);
      expect(closeness(out[h]![4]!, base[h]![4]!, 1e-3, 1e-3)).toBeGreaterThan(1);
    }
    expect(causalMask(2, 3).arraySync()).toEqual([[0, 0, -1e9], [0, 0, 0]]);
  });
});

describe("softmaxCrossEntropy", () => {
  it("matches the float64 formula and finite differences", () => {
    const n = 4, c = 6;
    const z = randn(n * c, 41, 3);
    const labels = [0, 5, 2, 2];
    const lab = tf.tensor1d(labels, "int32");
    const r = gradsBoth([{ v: z, shape: [n, c] }], (a) => softmaxCrossEntropy(a as tf.Tensor2D, lab), (a) => softmaxCE64(a!, labels, c), randn(n, 42));
    expect(closeness(r.value, r.refValue, 1e-5, 1e-6)).toBeLessThan(1);
    expect(closeness(r.got[0]!, r.want[0]!, 1e-3, 1e-5)).toBeLessThan(1);
  });
  it("is stable for large logits", () => {
    const v = softmaxCrossEntropy(tf.tensor2d([[1000, 0], [0, 1000]]), tf.tensor1d([0, 0], "int32")).dataSync();
    expect(v[0]).toBeCloseTo(0, 5);
    expect(v[1]).toBeCloseTo(1000, 2);
  });
});

describe("linear and embedding", () => {
  it("linear uses the PyTorch [out, in] layout and has correct gradients", () => {
    const x = randn(3 * 4, 51), w = randn(5 * 4, 52), b = randn(5, 53);
    const ref = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => {
      const y = new Float64Array(15);
      for (let i = 0; i < 3; i++) for (let o = 0; o < 5; o++) { let s = bb[o]!; for (let k = 0; k < 4; k++) s += xx[i * 4 + k]! * ww[o * 4 + k]!; y[i * 5 + o] = s; }
      return y;
    };
    const r = gradsBoth([{ v: x, shape: [3, 4] }, { v: w, shape: [5, 4] }, { v: b, shape: [5] }], (a, ww, bb) => linear(a!, ww!, bb), (a, ww, bb) => ref(a!, ww!, bb!), randn(15, 54));
    expect(closeness(r.value, r.refValue, 1e-5, 1e-5)).toBeLessThan(1);
    for (let k = 0; k < 3; k++) expect(closeness(r.got[k]!, r.want[k]!, 1e-3, 1e-4)).toBeLessThan(1);
  });

  it("embedding gradient sums rows of repeated ids", () => {
    const table = tf.randomNormal([5, 3], 0, 1, "float32", 60) as tf.Tensor2D;
    const ids = tf.tensor2d([[1, 3], [1, 1]], [2, 2], "int32");
    const dy = tf.tensor3d([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]);
    expect(embedding(table, ids).arraySync()[1]![0]).toEqual(table.arraySync()[1]);
    const g = tf.grad((tb: tf.Tensor) => tf.sum(tf.mul(embedding(tb as tf.Tensor2D, ids), dy)))(table).arraySync();
    expect(g).toEqual([[0, 0, 0], [18, 21, 24], [0, 0, 0], [4, 5, 6], [0, 0, 0]]);
  });
});

describe("fused-op registry", () => {
  it("a fused implementation registered for the active backend replaces the reference", () => {
    const x = tf.tensor1d([1, 2]);
    registerFusedOp("cpu", "gelu", (a: tf.Tensor) => tf.mul(a, 10));
    try {
      expect(Array.from(gelu(x).dataSync())).toEqual([10, 20]);
    } finally {
      unregisterFusedOp("cpu", "gelu");
    }
    expect(gelu(x).dataSync()[0]).toBeCloseTo(0.8413447, 6);
    registerFusedOp("some-other-backend", "gelu", (a: tf.Tensor) => tf.mul(a, 10));
    expect(gelu(x).dataSync()[0]).toBeCloseTo(0.8413447, 6);
    unregisterFusedOp("some-other-backend", "gelu");
  });
});
