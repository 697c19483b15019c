// Runs the same tfjs computation on the cpu backend (reference) and on the
// torch backend with identical inputs, and compares results.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// tfjs-core alone registers no gradients; the tfjs package does (as the model does).
import "@tensorflow/tfjs";
import { expect } from "vitest";
import { Rng } from "../../src/util/hash.js";

/** Deterministic input factory: the same seed yields the same data on each backend. */
export class Inputs {
  private rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }
  rand(shape: number[], lo = -1, hi = 1): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * this.rng.next();
    return tf.tensor(v, shape, "float32");
  }
  int(shape: number[], lo: number, hi: number): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Int32Array(n);
    for (let i = 0; i < n; i++) v[i] = lo + this.rng.int(hi - lo);
    return tf.tensor(v, shape, "int32");
  }
  bool(shape: number[]): tf.Tensor {
    return tf.cast(this.int(shape, 0, 2), "bool");
  }
}

export interface Out {
  shape: number[];
  dtype: string;
  values: number[];
}

async function runOn(
  backend: string, seed: number, f: (m: Inputs) => tf.Tensor | tf.Tensor[],
): Promise<Out[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(() => {
    const r = f(new Inputs(seed));
    return Array.isArray(r) ? r : [r];
  });
  const res = outs.map((t) => ({ shape: t.shape, dtype: t.dtype, values: Array.from(t.dataSync()) }));
  tf.dispose(outs);
  return res;
}

/** Results of f on cpu and on torch. */
export async function onBoth(f: (m: Inputs) => tf.Tensor | tf.Tensor[], seed = 1): Promise<[Out[], Out[]]> {
  const ref = await runOn("cpu", seed, f);
  const got = await runOn("torch", seed, f);
  return [ref, got];
}

export function expectSame(ref: Out[], got: Out[], rtol = 1e-4, atol = 1e-5): void {
  expect(got.length).toBe(ref.length);
  for (let i = 0; i < ref.length; i++) {
    expect(got[i].shape, `output ${i} shape`).toEqual(ref[i].shape);
    expect(got[i].dtype, `output ${i} dtype`).toBe(ref[i].dtype);
    const r = ref[i].values, g = got[i].values;
    expect(g.length).toBe(r.length);
    let worst = -1, worstErr = 0;
    for (let j = 0; j < r.length; j++) {
      const bothNaN = Number.isNaN(r[j]) && Number.isNaN(g[j]);
      const same = r[j] === g[j]; // also covers matching infinities
      const err = bothNaN || same ? 0 : Math.abs(g[j] - r[j]) - (atol + rtol * Math.abs(r[j]));
      if (!(err <= 0) && (worst < 0 || !(err <= worstErr))) {
        worst = j;
        worstErr = err;
      }
    }
    expect(worst, worst >= 0 ? `output ${i}[${worst}]: torch ${g[worst]} vs cpu ${r[worst]}` : "").toBe(-1);
  }
}

export async function check(f: (m: Inputs) => tf.Tensor | tf.Tensor[], rtol = 1e-4, atol = 1e-5, seed = 1) {
  const [ref, got] = await onBoth(f, seed);
  expectSame(ref, got, rtol, atol);
}
