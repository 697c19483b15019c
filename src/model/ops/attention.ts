// Scaled dot-product attention with a hand-written backward.
//   S = s·Q·Kᵀ (+ causal mask), P = softmax(S), O = P·V
//   dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = s·dS·K, dK = s·dSᵀ·Q
import * as tf from "@tensorflow/tfjs-core";
import { fusedOp } from "./registry.js";
import { matmul } from "./matmul.js";
import { customOp } from "./custom.js";

/** q [B,H,Tq,D], k and v [B,H,Tk,D] -> [B,H,Tq,D]. */
export type AttentionFn = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, causal: boolean, scale: number) => tf.Tensor4D;

// A finite large negative keeps fully masked rows (which causal masks never
// produce) from turning into NaN.
const MASKED = -1e9;

/** Additive causal mask [Tq, Tk]: query i sees keys j ≤ i + (Tk − Tq). */
export function causalMask(tq: number, tk: number): tf.Tensor2D {
  const m = new Float32Array(tq * tk);
  const off = tk - tq;
  for (let i = 0; i < tq; i++) for (let j = i + off + 1; j < tk; j++) m[i * tk + j] = MASKED;
  return tf.tensor2d(m, [tq, tk]);
}

export const attentionReference: AttentionFn = (q, k, v, causal, scale) => {
  const f = customOp(([qq, kk, vv], save) => {
    if (!qq || !kk || !vv) throw new Error("attention: missing input");
    let s = tf.mul(matmul(qq, kk, false, true), scale);
    if (causal) s = tf.add(s, causalMask(qq.shape[2]!, kk.shape[2]!));
    const p = tf.softmax(s);
    save([qq, kk, vv, p]);
    return {
      value: matmul(p, vv),
      gradFunc: (dO: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sp] = saved as tf.Tensor[];
        const dV = matmul(sp!, dO, true, false);
        const dP = matmul(dO, sv!, false, true);
        const dS = tf.mul(sp!, tf.sub(dP, tf.sum(tf.mul(dP, sp!), -1, true)));
        const dQ = tf.mul(matmul(dS, sk!), scale);
        const dK = tf.mul(matmul(dS, sq!, true, false), scale);
        return [dQ, dK, dV];
      },
    };
  });
  return f(q, k, v) as tf.Tensor4D;
};

/** Multi-head scaled dot-product attention on already split heads. */
export function attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, causal: boolean, scale = 1 / Math.sqrt(q.shape[3])): tf.Tensor4D {
  return (fusedOp<AttentionFn>("attention") ?? attentionReference)(q, k, v, causal, scale);
}
