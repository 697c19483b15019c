// Named custom ops with a per-backend override hook. Every op has a reference
// implementation (composed tfjs ops with a hand-written backward through
// tf.customGrad) that runs on every backend; a backend such as `torch` can
// register a fused forward+backward for the same op name, which is then used
// whenever that backend is active. The model calls ops only through here, so
// there is one model definition for all backends.
//
// Contract for a fused implementation (registerFusedOp(backend, name, fn)):
// same signature and semantics as the reference, differentiable through
// tfjs (wrap the kernel pair in tf.customGrad or register kernel gradients):
//   layerNorm(x [..., C], gamma [C], beta [C], eps) -> [..., C]
//   attention(q [B,H,Tq,D], k [B,H,Tk,D], v [B,H,Tk,D], causal, scale) -> [B,H,Tq,D]
//     (causal: query i sees keys j <= i + Tk - Tq)
//   gelu(x), quickGelu(x) -> same shape (exact erf GELU; x·σ(1.702x))
//   softmaxCrossEntropy(logits [N,C], labels int32 [N]) -> per-row loss [N]
//   embedding(table [V,W], ids int32 [...]) -> [..., W]
//   linear(x [..., in], w [out, in], b? [out]) -> [..., out]
//   residualBlock(x [B,T,W], params (ln_1 w, b, qkv w, b, out w, b, ln_2 w, b,
//     fc w, b, proj w, b), heads, causal, act, eps) -> [B,T,W]
//     (src/model/transformer.ts has the reference composition)
import * as tf from "@tensorflow/tfjs-core";

export type OpName = "layerNorm" | "attention" | "gelu" | "quickGelu" | "softmaxCrossEntropy" | "embedding" | "linear" | "residualBlock";

// Implementations are typed loosely here; each op module narrows its own signature.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOp = (...args: any[]) => any;

const fused = new Map<string, Map<OpName, AnyOp>>();

/** Register a fused implementation of `op` used while backend `backend` is active. */
export function registerFusedOp(backend: string, op: OpName, impl: AnyOp): void {
  let m = fused.get(backend);
  if (!m) fused.set(backend, (m = new Map()));
  m.set(op, impl);
}

/** Remove a fused implementation (tests compare fused and reference this way). */
export function unregisterFusedOp(backend: string, op: OpName): void {
  fused.get(backend)?.delete(op);
}

/** The fused implementation for the active backend, if one is registered. */
export function fusedOp<F extends AnyOp>(op: OpName): F | undefined {
  return fused.get(tf.getBackend())?.get(op) as F | undefined;
}
