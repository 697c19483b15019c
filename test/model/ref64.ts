// Plain-JS float64 reference implementations for tests, written from the
// formulas (not from tfjs), plus a central finite-difference gradient.

export type Vec = Float64Array;

export function randn(n: number, seed: number, scale = 1): Float64Array {
  // Small LCG + Box-Muller; independent of the code under test.
  let s = seed >>> 0 || 1;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) * scale;
  return out;
}

/** ∂f/∂x by central differences in float64. */
export function numGrad(f: (x: Float64Array) => number, x: Float64Array, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const o = x[i]!;
    x[i] = o + eps;
    const a = f(x);
    x[i] = o - eps;
    const b = f(x);
    x[i] = o;
    g[i] = (a - b) / (2 * eps);
  }
  return g;
}

/** erf by its Maclaurin series; accurate to ~1e-13 for |x| < 3. */
export function erf64(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

export const gelu64 = (x: number) => 0.5 * x * (1 + erf64(x / Math.SQRT2));
export const quickGelu64 = (x: number) => x / (1 + Math.exp(-1.702 * x));

/** LayerNorm of rows [n, c]. */
export function layerNorm64(x: Float64Array, g: Float64Array, b: Float64Array, c: number, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / c; r++) {
    let mu = 0;
    for (let j = 0; j < c; j++) mu += x[r * c + j]!;
    mu /= c;
    let v = 0;
    for (let j = 0; j < c; j++) v += (x[r * c + j]! - mu) ** 2;
    v /= c;
    for (let j = 0; j < c; j++) out[r * c + j] = ((x[r * c + j]! - mu) / Math.sqrt(v + eps)) * g[j]! + b[j]!;
  }
  return out;
}

/** Attention over [bh, tq, d] x [bh, tk, d]; causal: query i sees keys j ≤ i + tk − tq. */
export function attention64(q: Float64Array, k: Float64Array, v: Float64Array, bh: number, tq: number, tk: number, d: number, causal: boolean): Float64Array {
  const out = new Float64Array(bh * tq * d);
  const s = 1 / Math.sqrt(d);
  for (let h = 0; h < bh; h++) {
    for (let i = 0; i < tq; i++) {
      const w = new Float64Array(tk);
      let mx = -Infinity;
      for (let j = 0; j < tk; j++) {
        if (causal && j > i + tk - tq) { w[j] = -Infinity; continue; }
        let dot = 0;
        for (let e = 0; e < d; e++) dot += q[(h * tq + i) * d + e]! * k[(h * tk + j) * d + e]!;
        w[j] = dot * s;
        mx = Math.max(mx, w[j]!);
      }
      let z = 0;
      for (let j = 0; j < tk; j++) z += (w[j] = Math.exp(w[j]! - mx));
      for (let j = 0; j < tk; j++) for (let e = 0; e < d; e++) out[(h * tq + i) * d + e]! += (w[j]! / z) * v[(h * tk + j) * d + e]!;
    }
  }
  return out;
}

/** Per-row softmax cross-entropy of logits [n, c] against labels. */
export function softmaxCE64(z: Float64Array, labels: number[], c: number): Float64Array {
  const n = labels.length;
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let mx = -Infinity;
    for (let j = 0; j < c; j++) mx = Math.max(mx, z[r * c + j]!);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(z[r * c + j]! - mx);
    out[r] = mx + Math.log(s) - z[r * c + labels[r]!]!;
  }
  return out;
}

export function dot64(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Max |a−b| / (atol + rtol·|b|) over elements; ≤ 1 means close. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (atol + rtol * Math.abs(b[i]!)));
  return worst;
}
