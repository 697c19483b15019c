// Gradients through composite expressions, fused ops against their composite
// definitions on the cpu backend, and memory accounting.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  registerTorchBackend, torchAttention, torchAvailable, torchGelu, torchLayerNorm, torchLinear, torchNativeMemory,
  torchQuickGelu, torchSoftmaxCrossEntropy, torchEmbedding, torchAdamWUpdate,
} from "../../src/backend/torch.js";
import { check, type Inputs } from "./torch-helpers.js";
import { uploadView } from "../../src/backend/index.js";

const { available, reason } = torchAvailable();
const suffix = available ? "" : ` (SKIPPED: ${reason})`;
const onTorch = () => tf.getBackend() === "torch";

/** Value and gradients of a scalar function of the given inputs. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[]): tf.Tensor[] {
  const { value, grads } = tf.valueAndGrads(f)(xs);
  return [value, ...grads];
}

// Composite references (run on cpu) for the fused ops.
function layerNormRef(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), g), b);
}
function geluRef(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
}
function geluTanhRef(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}
function attentionRef(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, causal: boolean, mask?: tf.Tensor): tf.Tensor {
  let s = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(q.shape[3]!));
  if (mask) s = tf.where(mask, s, tf.fill(s.shape, -Infinity));
  if (causal) {
    const L = q.shape[2]!;
    const keep = tf.greaterEqual(tf.range(0, L, 1, "int32").reshape([L, 1]), tf.range(0, L, 1, "int32").reshape([1, L]));
    s = tf.where(tf.broadcastTo(keep, s.shape), s, tf.fill(s.shape, -Infinity));
  }
  return tf.matMul(tf.softmax(s), v);
}

describe.skipIf(!available)(`torch gradients${suffix}`, () => {
  beforeAll(() => {
    registerTorchBackend();
  });

  it("composite MLP-with-attention-ish expression", () =>
    check((m: Inputs) => {
      const x = m.rand([4, 6]), w1 = m.rand([6, 8]), b1 = m.rand([8]), w2 = m.rand([5, 8]);
      const idx = m.int([3], 0, 4);
      return valueAndGrads((x, w1, b1, w2) => {
        const h = tf.tanh(tf.add(tf.matMul(x, w1), b1));
        const y = tf.matMul(tf.gelu ? h : h, w2, false, true); // [4,5]
        const p = tf.softmax(y);
        const g = tf.gather(tf.concat([p, tf.slice(y, [0, 1], [-1, 2])], 1), idx);
        return tf.sum(tf.mul(tf.log(tf.add(tf.abs(g), 0.1)), tf.sigmoid(tf.mean(tf.max(y, 1, true)))));
      }, [x, w1, b1, w2]);
    }));

  it("logSoftmax cross-entropy, layer norm and erf-GELU written as tfjs ops", () =>
    check((m: Inputs) => {
      const x = m.rand([5, 8], -2, 2), g = m.rand([8]), b = m.rand([8]), w = m.rand([8, 5]);
      const labels = tf.oneHot(m.int([5], 0, 5), 5);
      return valueAndGrads((x, g, b, w) => {
        const h = geluRef(layerNormRef(x, g, b, 1e-5));
        const logits = tf.matMul(h, w);
        return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), labels), -1)));
      }, [x, g, b, w]);
    }));

  it("conv2d patch embedding gradients", () =>
    check((m: Inputs) => {
      const img = m.rand([2, 8, 8, 3]), f = m.rand([4, 4, 3, 6]);
      return valueAndGrads((img, f) => tf.sum(tf.square(tf.conv2d(img as tf.Tensor4D, f as tf.Tensor4D, 4, "valid"))), [img, f]);
    }));

  it("slice, pad, tile, cumsum, segment sum and scatter gradients", () =>
    check((m: Inputs) => {
      const x = m.rand([6, 4]), ids = m.int([6], 0, 3);
      return valueAndGrads((x) => {
        const a = tf.slice(x, [1, 0], [4, 4]); // StridedSlice has no tfjs gradient
        const b = tf.tile(tf.pad(a, [[1, 1], [0, 2]]), [1, 2]);
        const c = tf.unsortedSegmentSum(tf.cumsum(x, 1, false, true), ids, 3);
        return tf.add(tf.sum(tf.square(b)), tf.sum(tf.mul(c, c)));
      }, [x]);
    }));

  it("fused layer norm: forward + gradients match the composite on cpu", () =>
    check((m: Inputs) => {
      const x = m.rand([3, 4, 16], -2, 2), g = m.rand([16]), b = m.rand([16]), w = m.rand([3, 4, 16]);
      return valueAndGrads((x, g, b) => {
        const y = onTorch() ? torchLayerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5) : layerNormRef(x, g, b, 1e-5);
        return tf.sum(tf.mul(y, w));
      }, [x, g, b]);
    }, 1e-3, 1e-4));

  it("fused GELU (erf and tanh) forward + gradients", () =>
    check((m: Inputs) => {
      const x = m.rand([6, 7], -4, 4), w = m.rand([6, 7]);
      return valueAndGrads((x) => {
        const a = onTorch() ? torchGelu(x) : geluRef(x);
        const t = onTorch() ? torchGelu(x, true) : geluTanhRef(x);
        return tf.sum(tf.mul(tf.add(a, tf.mul(t, 0.5)), w));
      }, [x]);
    }, 1e-4, 1e-5));

  it("fused embedding (2-D ids, repeated rows) forward + gradients", () =>
    check((m: Inputs) => {
      const table = m.rand([10, 4]), ids = m.int([3, 5], 0, 10), w = m.rand([3, 5, 4]);
      return valueAndGrads((t) => {
        const e = onTorch() ? torchEmbedding(t as tf.Tensor2D, ids) : tf.gather(t, ids);
        return tf.sum(tf.mul(e, w));
      }, [table]);
    }));

  it("tensors used after their reshaped alias is disposed keep working (shared dataId)", async () => {
    await tf.setBackend("torch");
    const ids = tf.tensor2d([[1, 2], [3, 4]], undefined, "int32");
    const flat = tf.tidy(() => tf.reshape(ids, [-1]));
    const twice = tf.mul(flat, 2);
    expect(Array.from(twice.dataSync())).toEqual([2, 4, 6, 8]);
    expect(Array.from(tf.reshape(flat, [2, 2]).dataSync())).toEqual([1, 2, 3, 4]);
    tf.dispose([ids, flat, twice]);
  });

  it("a view upload is the buffer itself until released; tensors alive then keep their values", async () => {
    await tf.setBackend("torch");
    const buf = new Float32Array(new SharedArrayBuffer(4 * 24)).map((_, i) => i);
    const { tensor: t, release } = uploadView(buf.subarray(8, 20), [3, 4]);
    const alias = tf.reshape(t, [12]);
    const col = tf.slice(t, [0, 1], [3, 1]); // may be a strided view of the same storage
    const sum = tf.sum(t);
    buf[8] = 100; // no copy was made: the tensor sees the write
    expect(t.dataSync()[0]).toBe(100);
    release();
    buf.fill(-1); // the owner rewrites the bytes after the release
    const want = [100, ...Array.from({ length: 11 }, (_, i) => 9 + i)];
    expect(Array.from(t.dataSync())).toEqual(want);
    expect(Array.from(alias.dataSync())).toEqual(want);
    expect(Array.from(col.dataSync())).toEqual([9, 13, 17]);
    expect(sum.dataSync()[0]).toBe(162); // 8 + 9 + ... + 19, summed before the write
    // A view nobody holds any more: release has nothing to copy.
    const second = uploadView(buf.subarray(0, 4), [4]);
    second.tensor.dispose();
    second.release();
    tf.dispose([t, alias, col, sum]);
  });

  it("fused QuickGELU forward + gradients", () =>
    check((m: Inputs) => {
      const x = m.rand([6, 7], -4, 4), w = m.rand([6, 7]);
      return valueAndGrads((x) => {
        const y = onTorch() ? torchQuickGelu(x) : tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
        return tf.sum(tf.mul(y, w));
      }, [x]);
    }));

  it("fused linear (W [out,in], with and without bias, 3-D input) forward + gradients", () =>
    check((m: Inputs) => {
      const x = m.rand([2, 3, 6]), w = m.rand([5, 6]), b = m.rand([5]), r = m.rand([2, 3, 5]);
      const ref = (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor) => {
        const y = tf.matMul(tf.reshape(x, [-1, 6]), w, false, true);
        return tf.reshape(b ? tf.add(y, b) : y, [2, 3, 5]);
      };
      return valueAndGrads((x, w, b) => {
        const y1 = onTorch() ? torchLinear(x, w, b) : ref(x, w, b);
        const y2 = onTorch() ? torchLinear(x, w) : ref(x, w);
        return tf.add(tf.sum(tf.mul(y1, r)), tf.sum(tf.square(y2)));
      }, [x, w, b]);
    }));

  // With PyTorch 2 the addon takes SDPA's kernels for all but causal + mask
  // (math path); with 1.13 every case is the math path.
  for (const causal of [false, true]) {
    for (const masked of [true, false]) {
      it(`fused attention (causal=${causal}, ${masked ? "with" : "no"} key mask) forward + gradients`, () =>
        check((m: Inputs) => {
          const q = m.rand([2, 3, 5, 8]), k = m.rand([2, 3, 5, 8]), v = m.rand([2, 3, 5, 8]), w = m.rand([2, 3, 5, 8]);
          // Key-padding mask [B,1,1,L]; the first key is always kept so no row is empty.
          const mask = masked
            ? tf.logicalOr(tf.cast(m.int([2, 1, 1, 5], 0, 2), "bool"), tf.reshape(tf.cast(tf.oneHot(tf.tensor1d([0], "int32"), 5), "bool"), [1, 1, 1, 5]))
            : undefined;
          return valueAndGrads((q, k, v) => {
            const o = onTorch()
              ? torchAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, { causal, mask })
              : attentionRef(q, k, v, causal, mask && tf.broadcastTo(mask, [2, 3, 5, 5]));
            return tf.sum(tf.mul(o, w));
          }, [q, k, v]);
        }, 1e-3, 1e-5));
    }
  }

  it("attention rows whose keys are all masked give 0 and no gradient (as SDPA), on both attention paths", async () => {
    const prev = tf.getBackend();
    await tf.setBackend("torch");
    try {
      // causal=false takes SDPA with PyTorch 2 (math path on 1.13); causal + mask is always the math path.
      for (const causal of [false, true]) {
        const [q, k, v, w] = [0, 1, 2, 3].map((i) => tf.randomNormal([2, 3, 5, 8], 0, 1, "float32", i));
        // Batch 0: every key masked; batch 1: every key kept.
        const mask = tf.tensor4d([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], [2, 1, 1, 5], "bool");
        const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
          tf.sum(tf.mul(torchAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, { causal, mask }), w!));
        const out = torchAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, { causal, mask });
        const { grads } = tf.valueAndGrads(f)([q!, k!, v!]);
        const [o0, o1] = tf.unstack(out).map((t) => Array.from(t.dataSync()));
        expect(o0!.every((x) => x === 0), `causal=${causal}`).toBe(true);
        expect(o1!.every(Number.isFinite) && o1!.some((x) => x !== 0)).toBe(true);
        for (const g of grads) {
          const [g0, g1] = tf.unstack(g).map((t) => Array.from(t.dataSync()));
          expect(g0!.every((x) => x === 0), `causal=${causal}`).toBe(true);
          expect(g1!.every(Number.isFinite)).toBe(true);
        }
        tf.dispose([q!, k!, v!, w!, mask, out, ...grads]);
      }
    } finally {
      await tf.setBackend(prev);
    }
  });

  it("fused softmax cross-entropy (int labels and soft targets) forward + gradients", () =>
    check((m: Inputs) => {
      const z = m.rand([6, 9], -3, 3), y = m.int([6], 0, 9), soft = tf.softmax(m.rand([6, 9]));
      return valueAndGrads((z) => {
        const ce = (t: tf.Tensor) =>
          onTorch()
            ? torchSoftmaxCrossEntropy(z as tf.Tensor2D, t)
            : tf.neg(tf.sum(tf.mul(tf.logSoftmax(z), t.dtype === "int32" ? tf.oneHot(t as tf.Tensor1D, 9) : t), -1));
        return tf.add(tf.mean(ce(y)), tf.mul(tf.mean(ce(soft)), 0.5));
      }, [z]);
    }, 1e-4, 1e-5));

  it("fused AdamW matches PyTorch's formula in float64 over 3 steps; shared data stays immutable", async () => {
    await tf.setBackend("torch");
    const n = 6, o = { lr: 0.05, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 };
    const p0 = Array.from({ length: n }, (_, i) => Math.sin(i + 1));
    // Three variables: exclusive data (in place), data shared with another
    // tensor (must go through assign), and a transposed view (storage shared).
    const shared = tf.tensor1d(p0);
    const base2d = tf.tensor2d(p0, [2, 3]);
    const transposed = tf.transpose(base2d);
    const cases = [
      { p: tf.variable(tf.tensor1d(p0)), keep: null as tf.Tensor | null },
      { p: tf.variable(shared), keep: shared },
      { p: tf.variable(transposed), keep: base2d },
    ];
    const ref = { p: p0.slice(), m: new Array(n).fill(0), v: new Array(n).fill(0) };
    const states = cases.map((c) => ({ m: tf.variable(tf.zeros(c.p.shape)), v: tf.variable(tf.zeros(c.p.shape)) }));
    for (let step = 1; step <= 3; step++) {
      const g = p0.map((x, i) => Math.cos(3 * x + step) * (i + 1));
      for (let i = 0; i < n; i++) {
        ref.m[i] = o.beta1 * ref.m[i] + (1 - o.beta1) * g[i];
        ref.v[i] = o.beta2 * ref.v[i] + (1 - o.beta2) * g[i] * g[i];
        const denom = Math.sqrt(ref.v[i]) / Math.sqrt(1 - o.beta2 ** step) + o.eps;
        ref.p[i] = ref.p[i] * (1 - o.lr * o.weightDecay) - (o.lr / (1 - o.beta1 ** step)) * (ref.m[i] / denom);
      }
      // All three in one call (in place, through assign, through assign).
      const grads = cases.map((c, k) => {
        // The transposed case's flat order differs: build g in its layout.
        const gFlat = k === 2 ? [0, 3, 1, 4, 2, 5].map((j) => g[j]) : g;
        return tf.tensor(gFlat, c.p.shape);
      });
      torchAdamWUpdate(cases.map((c, k) => ({ param: c.p, grad: grads[k]!, expAvg: states[k].m, expAvgSq: states[k].v, weightDecay: o.weightDecay })), { ...o, step });
      tf.dispose(grads);
    }
    const close = (a: ArrayLike<number>, b: number[]) => b.every((x, i) => Math.abs(a[i] - x) < 1e-5 * (1 + Math.abs(x)));
    expect(close(cases[0].p.dataSync(), ref.p)).toBe(true);
    expect(close(cases[1].p.dataSync(), ref.p)).toBe(true);
    const t = cases[2].p.dataSync();
    expect(close([0, 2, 4, 1, 3, 5].map((j) => t[j]), ref.p)).toBe(true);
    expect(Array.from(shared.dataSync())).toEqual(Array.from(new Float32Array(p0)));
    expect(Array.from(base2d.dataSync())).toEqual(Array.from(new Float32Array(p0)));
    tf.dispose([shared, base2d, transposed, ...cases.map((c) => c.p), ...states.flatMap((s) => [s.m, s.v])]);
  });

  it("disposing returns tfjs and addon tensor counts to baseline", async () => {
    await tf.setBackend("torch");
    const before = tf.memory().numTensors;
    const nativeBefore = torchNativeMemory().live;
    const init = tf.randomNormal([8, 8]);
    const w = tf.variable(init);
    init.dispose();
    const opt = tf.train.adam(1e-2);
    for (let i = 0; i < 3; i++) {
      const x = tf.randomNormal([4, 8]);
      opt.minimize(() => tf.mean(tf.square(tf.matMul(x, w))));
      x.dispose();
    }
    const y = tf.tidy(() => torchLayerNorm(tf.ones([2, 8]), tf.ones([8]) as tf.Tensor1D, tf.zeros([8]) as tf.Tensor1D));
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    expect(torchNativeMemory().live).toBeGreaterThan(nativeBefore);
    tf.dispose([y, w]);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(torchNativeMemory().live).toBe(nativeBefore);
    expect((tf.memory() as unknown as { nativeLive?: number }).nativeLive ?? torchNativeMemory().live).toBe(nativeBefore);
  });

  it("a variable shares its initial tensor's data until both are gone", async () => {
    await tf.setBackend("torch");
    const nativeBefore = torchNativeMemory().live;
    const init = tf.tensor1d([1, 2, 3]);
    const v = tf.variable(init);
    init.dispose();
    expect(Array.from(v.dataSync())).toEqual([1, 2, 3]);
    const next = tf.tensor1d([4, 5, 6]);
    v.assign(next);
    next.dispose();
    expect(Array.from(v.dataSync())).toEqual([4, 5, 6]);
    v.dispose();
    expect(torchNativeMemory().live).toBe(nativeBefore);
  });

  it("errors name the problem: unsupported dtype, freed data", async () => {
    await tf.setBackend("torch");
    expect(() => tf.complex([1], [2])).toThrow(/complex64|not registered/);
    const t = tf.tensor1d([1]);
    t.dispose();
    expect(() => t.dataSync()).toThrow(/disposed/);
  });
});

describe.skipIf(available)("torch backend without addon", () => {
  it(`registerTorchBackend returns false and explains why: ${reason}`, () => {
    expect(registerTorchBackend()).toBe(false);
    expect(reason).toMatch(/torch addon/);
  });
});
