// Named custom ops with a per-backend override hook. Every op has a reference
// implementation (composed tfjs ops with a hand-written backward through
// tf.customGrad) that runs on every backend; a backend such as `torch` can
// register a fused forward+backward for the same op name, which is then used
// whenever that backend is active. The model calls ops only through here, so
// there is one model definition for all backends.
import * as tf from "@tensorflow/tfjs-core";

export type OpName = "layerNorm" | "attention" | "gelu" | "quickGelu" | "softmaxCrossEntropy" | "embedding" | "linear";

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
