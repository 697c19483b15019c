// Loss values and gradients against float64 references and finite differences.
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend/index.js";
import { clampLogitScale, clipLoss, logitScaleFromParam, modelLoss, sigLipLoss, sigLipLossChunked } from "../../src/loss/index.js";
import { createModel, getModelConfig } from "../../src/model/index.js";
import { closeness, numGrad, randn } from "../model/ref64.js";

beforeAll(async () => {
  await setBackend("cpu");
});

const B = 5, D = 4;

function normalizedRows(seed: number): Float64Array {
  const x = randn(B * D, seed);
  for (let i = 0; i < B; i++) {
    let n = 0;
    for (let j = 0; j < D; j++) n += x[i * D + j]! ** 2;
    for (let j = 0; j < D; j++) x[i * D + j]! /= Math.sqrt(n);
  }
  return Float64Array.from(x, Math.fround);
}

function sims(img: Float64Array, txt: Float64Array): number[][] {
  const s: number[][] = [];
  for (let i = 0; i < B; i++) {
    s.push([]);
    for (let j = 0; j < B; j++) { let d = 0; for (let k = 0; k < D; k++) d += img[i * D + k]! * txt[j * D + k]!; s[i]!.push(d); }
  }
  return s;
}

function clip64(img: Float64Array, txt: Float64Array, scale: number): number {
  const s = sims(img, txt).map((r) => r.map((v) => v * scale));
  const ce = (row: number[], y: number) => { const m = Math.max(...row); return m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) - row[y]!; };
  let i2t = 0, t2i = 0;
  for (let i = 0; i < B; i++) {
    i2t += ce(s[i]!, i);
    t2i += ce(s.map((r) => r[i]!), i);
  }
  return (i2t / B + t2i / B) / 2;
}

function siglip64(img: Float64Array, txt: Float64Array, scale: number, bias: number): number {
  const s = sims(img, txt);
  let l = 0;
  for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) {
    const z = i === j ? 1 : -1;
    l -= Math.log(1 / (1 + Math.exp(-z * (scale * s[i]![j]! + bias))));
  }
  return l / B;
}

const img = normalizedRows(1), txt = normalizedRows(2);
const ti = () => tf.tensor2d(Float32Array.from(img), [B, D]);
const tt = () => tf.tensor2d(Float32Array.from(txt), [B, D]);

describe("clipLoss", () => {
  it("value equals the float64 symmetric cross-entropy", () => {
    expect(clipLoss(ti(), tt(), 10).dataSync()[0]).toBeCloseTo(clip64(img, txt, 10), 4);
    // identical perfectly separated features at a large scale give ~0 loss
    const eye = tf.eye(B) as tf.Tensor2D;
    expect(clipLoss(eye, eye, 100).dataSync()[0]).toBeLessThan(1e-6);
  });
  it("gradients w.r.t. both features and the scale match finite differences", () => {
    const [gi, gt, gs] = tf.grads((a, b, s) => clipLoss(a as tf.Tensor2D, b as tf.Tensor2D, s as tf.Scalar))([ti(), tt(), tf.scalar(7)]);
    expect(closeness(gi!.dataSync(), numGrad((x) => clip64(x, txt, 7), Float64Array.from(img)), 2e-3, 1e-5)).toBeLessThan(1);
    expect(closeness(gt!.dataSync(), numGrad((x) => clip64(img, x, 7), Float64Array.from(txt)), 2e-3, 1e-5)).toBeLessThan(1);
    expect(gs!.dataSync()[0]).toBeCloseTo(numGrad((x) => clip64(img, txt, x[0]!), Float64Array.from([7]))[0]!, 4);
  });
});

describe("sigLipLoss", () => {
  it("value equals −Σ log σ(z·(s·IᵀT + b)) / B in float64", () => {
    expect(sigLipLoss(ti(), tt(), 10, -10).dataSync()[0]).toBeCloseTo(siglip64(img, txt, 10, -10), 4);
    expect(sigLipLoss(ti(), tt(), 3, 0.5).dataSync()[0]).toBeCloseTo(siglip64(img, txt, 3, 0.5), 4);
  });
  it("gradients match finite differences (features, scale, bias)", () => {
    const [gi, gt, gs, gb] = tf.grads((a, b, s, c) => sigLipLoss(a as tf.Tensor2D, b as tf.Tensor2D, s as tf.Scalar, c as tf.Scalar))([ti(), tt(), tf.scalar(3), tf.scalar(0.5)]);
    expect(closeness(gi!.dataSync(), numGrad((x) => siglip64(x, txt, 3, 0.5), Float64Array.from(img)), 2e-3, 1e-5)).toBeLessThan(1);
    expect(closeness(gt!.dataSync(), numGrad((x) => siglip64(img, x, 3, 0.5), Float64Array.from(txt)), 2e-3, 1e-5)).toBeLessThan(1);
    expect(gs!.dataSync()[0]).toBeCloseTo(numGrad((x) => siglip64(img, txt, x[0]!, 0.5), Float64Array.from([3]))[0]!, 4);
    expect(gb!.dataSync()[0]).toBeCloseTo(numGrad((x) => siglip64(img, txt, 3, x[0]!), Float64Array.from([0.5]))[0]!, 4);
  });
  for (const chunk of [1, 2, 3, 5, 8]) {
    it(`chunked (chunk=${chunk}) equals unchunked in value and gradients`, () => {
      const f = (a: tf.Tensor, b: tf.Tensor, s: tf.Tensor, c: tf.Tensor) => sigLipLoss(a as tf.Tensor2D, b as tf.Tensor2D, s as tf.Scalar, c as tf.Scalar);
      const g = (a: tf.Tensor, b: tf.Tensor, s: tf.Tensor, c: tf.Tensor) => sigLipLossChunked(a as tf.Tensor2D, b as tf.Tensor2D, s as tf.Scalar, c as tf.Scalar, chunk);
      const args = [ti(), tt(), tf.scalar(4), tf.scalar(-2)];
      expect(g(...(args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])).dataSync()[0]).toBeCloseTo(f(...(args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])).dataSync()[0]!, 5);
      const ga = tf.grads((a, b, s, c) => f(a!, b!, s!, c!))(args);
      const gb = tf.grads((a, b, s, c) => g(a!, b!, s!, c!))(args);
      for (let k = 0; k < 4; k++) expect(closeness(gb[k]!.dataSync(), ga[k]!.dataSync(), 1e-4, 1e-6)).toBeLessThan(1);
    });
  }
  it("chunked through modelLoss (inside its tidy): the same gradients for every weight", () => {
    const base = getModelConfig("micro-siglip");
    const m = createModel({ ...base, text: { ...base.text, vocabSize: 1000 } }, { seed: 4 });
    const s = m.config.vision.imageSize, ctx = m.config.text.contextLength;
    const images = tf.tensor4d(Float32Array.from(randn(4 * s * s * 3, 9)), [4, s, s, 3]);
    const tokens = tf.tensor2d(Int32Array.from({ length: 4 * ctx }, (_, i) => (i % ctx === 6 ? 999 : 1 + ((i * 31) % 900))), [4, ctx], "int32");
    const vars = [...m.params.values()];
    const plain = tf.variableGrads(() => modelLoss(m, images, tokens), vars);
    const chunked = tf.variableGrads(() => modelLoss(m, images, tokens, { sigLipChunk: 3 }), vars);
    expect(chunked.value.dataSync()[0]).toBeCloseTo(plain.value.dataSync()[0]!, 5);
    for (const v of vars) expect(closeness(chunked.grads[v.name]!.dataSync(), plain.grads[v.name]!.dataSync(), 1e-3, 1e-6), v.name).toBeLessThan(1);
  });
  it("rejects a bad chunk size", () => {
    expect(() => sigLipLossChunked(ti(), tt(), 1, 0, 0)).toThrow(/chunk/);
  });
});

describe("logit scale", () => {
  it("logitScaleFromParam exponentiates and caps the scale at 100", () => {
    expect(logitScaleFromParam(tf.scalar(Math.log(1 / 0.07))).dataSync()[0]).toBeCloseTo(1 / 0.07, 3);
    expect(logitScaleFromParam(tf.scalar(10)).dataSync()[0]).toBeCloseTo(100, 3);
    // gradient flows below the cap and is zero above it
    expect(tf.grad((p) => logitScaleFromParam(p))(tf.scalar(1)).dataSync()[0]).toBeCloseTo(Math.E, 4);
    expect(tf.grad((p) => logitScaleFromParam(p))(tf.scalar(6)).dataSync()[0]).toBe(0);
  });
  it("clampLogitScale clamps the model parameter to [0, ln 100]", () => {
    const c = getModelConfig("micro");
    const m = createModel({ ...c, text: { ...c.text, vocabSize: 50 } });
    const p = m.params.get("logit_scale")!;
    expect(p.dataSync()[0]).toBeCloseTo(Math.log(1 / 0.07), 5);
    p.assign(tf.scalar(9));
    clampLogitScale(m);
    expect(p.dataSync()[0]).toBeCloseTo(Math.log(100), 5);
    p.assign(tf.scalar(-1));
    clampLogitScale(m);
    expect(p.dataSync()[0]).toBe(0);
  });
});
