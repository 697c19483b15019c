// Pre-LN transformer pieces shared by both towers (and by the timm trunk).
import * as tf from "@tensorflow/tfjs-core";
import type { BlockNames } from "./params.js";
import { attention, gelu, layerNorm, linear, quickGelu } from "./ops/index.js";
import { fusedOp } from "./ops/registry.js";
import { customOp } from "./ops/custom.js";

export type Params = Map<string, tf.Variable>;

export function param(p: Params, name: string): tf.Variable {
  const v = p.get(name);
  if (!v) throw new Error(`model: missing parameter "${name}"`);
  return v;
}

/** [B, T, H·D] -> [B, H, T, D] */
export function splitHeads(x: tf.Tensor, heads: number): tf.Tensor4D {
  const [b, t, w] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [b, t, heads, w / heads]), [0, 2, 1, 3]);
}

/** [B, H, T, D] -> [B, T, H·D] */
export function mergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  const [b, h, t, d] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * d]);
}

/**
 * Self-attention with a packed projection W [3w, w] whose rows are q, k, v
 * (torch.nn.MultiheadAttention's in_proj_weight and timm's qkv share this layout).
 */
export function selfAttention(x: tf.Tensor3D, qkvW: tf.Tensor, qkvB: tf.Tensor, outW: tf.Tensor, outB: tf.Tensor, heads: number, causal: boolean): tf.Tensor3D {
  const w = x.shape[2];
  const qkv = linear(x, qkvW, qkvB);
  const [q, k, v] = tf.split(qkv, [w, w, w], 2);
  const o = attention(splitHeads(q!, heads), splitHeads(k!, heads), splitHeads(v!, heads), causal);
  return linear(mergeHeads(o), outW, outB) as tf.Tensor3D;
}

export function mlp(x: tf.Tensor, fcW: tf.Tensor, fcB: tf.Tensor, projW: tf.Tensor, projB: tf.Tensor, act: "gelu" | "quick_gelu"): tf.Tensor {
  const h = linear(x, fcW, fcB);
  return linear(act === "gelu" ? gelu(h) : quickGelu(h), projW, projB);
}

type BlockFn = (x: tf.Tensor3D, params: tf.Tensor[], heads: number, causal: boolean, act: "gelu" | "quick_gelu", eps: number) => tf.Tensor3D;

/**
 * x + attn(ln_1(x)); x + mlp(ln_2(x)). A backend may run the whole block as
 * one fused op (the torch backend does: two addon calls per step instead of
 * ~90 tfjs kernels); this composition is the reference.
 */
export function residualBlock(x: tf.Tensor3D, p: Params, n: BlockNames, heads: number, causal: boolean, act: "gelu" | "quick_gelu", eps: number): tf.Tensor3D {
  const fused = fusedOp<BlockFn>("residualBlock");
  if (fused) {
    const names = [...n.ln1, n.qkvW, n.qkvB, n.outW, n.outB, ...n.ln2, n.fcW, n.fcB, n.projW, n.projB];
    return fused(x, names.map((name) => param(p, name)), heads, causal, act, eps);
  }
  const a = selfAttention(layerNorm(x, param(p, n.ln1[0]), param(p, n.ln1[1]), eps) as tf.Tensor3D, param(p, n.qkvW), param(p, n.qkvB), param(p, n.outW), param(p, n.outB), heads, causal);
  const x1 = tf.add(x, a);
  const m = mlp(layerNorm(x1, param(p, n.ln2[0]), param(p, n.ln2[1]), eps), param(p, n.fcW), param(p, n.fcB), param(p, n.projW), param(p, n.projB), act);
  return tf.add(x1, m) as tf.Tensor3D;
}

type EngineState = { state: { activeTape: unknown; gradientDepth: number } };

/**
 * Run `f` (which takes gradients) from inside a gradient function. tfjs-core
 * 4.x keeps one tape: a tf.grads started while the outer backward runs
 * (gradientDepth 0) would replace the outer tape and, when done, null it, so
 * the outer backward could neither finish nor free its saved tensors. The
 * outer tape is set aside and put back; the inner one is freed as usual.
 */
function withOwnTape<T>(f: () => T): T {
  const e = tf.engine() as unknown as EngineState;
  if (e.state.gradientDepth !== 0) throw new Error("gradient checkpointing: higher-order gradients through a checkpointed block are not supported");
  const outer = e.state.activeTape;
  e.state.activeTape = null;
  try {
    return f();
  } finally {
    e.state.activeTape = outer;
  }
}

/**
 * `residualBlock` with gradient checkpointing: the forward keeps only the
 * block's input (tf.customGrad's body runs untaped, so neither the tfjs tape
 * nor the torch backend's fused block keeps the attention/MLP activations);
 * the backward re-runs the block under a fresh tape and differentiates that.
 * Gradients are the plain block's; peak memory holds one block's activations
 * plus every block's input instead of every block's activations.
 */
export function checkpointedBlock(x: tf.Tensor3D, p: Params, n: BlockNames, heads: number, causal: boolean, act: "gelu" | "quick_gelu", eps: number): tf.Tensor3D {
  const names = [...n.ln1, n.qkvW, n.qkvB, n.outW, n.outB, ...n.ln2, n.fcW, n.fcB, n.projW, n.projB];
  // The block over explicit tensors, so the recompute can use the saved copies.
  const run = (xx: tf.Tensor, ws: tf.Tensor[]): tf.Tensor3D =>
    residualBlock(xx as tf.Tensor3D, new Map(names.map((name, i) => [name, ws[i] as tf.Variable])), n, heads, causal, act, eps);
  const f = customOp((inputs, save) => {
    save(inputs);
    return {
      value: run(inputs[0]!, inputs.slice(1)),
      gradFunc: (dy, saved) => withOwnTape(() => tf.grads((...ins: tf.Tensor[]) => run(ins[0]!, ins.slice(1)))(saved, dy)),
    };
  });
  return f(x, ...names.map((name) => param(p, name))) as tf.Tensor3D;
}
