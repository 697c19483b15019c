// Fused forward+backward ops for the torch backend: layer norm, GELU,
// attention and softmax cross-entropy each run as one ATen call per pass
// instead of tens of tfjs kernels. They are ordinary tfjs ops (tf.customGrad
// over torch-only kernels), so tf.grad / variableGrads see them; they throw on
// any other backend, so callers pick them only when tf.getBackend() === "torch".
import * as tf from "@tensorflow/tfjs-core";
import type { KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import type { TorchBackend } from "./torch-backend.js";
import { TORCH_BACKEND_NAME } from "./torch-kernels.js";

type Fn = (x: Record<string, TensorInfo>, b: TorchBackend, at: Record<string, any>) => TensorInfo | TensorInfo[];

/** Kernel input names of a residual block's parameters, in the addon's order. */
const BLOCK_PARAMS = ["ln1W", "ln1B", "qkvW", "qkvB", "outW", "outB", "ln2W", "ln2B", "fcW", "fcB", "projW", "projB"];

const fused: Array<[string, Fn]> = [
  ["TorchLayerNorm", (x, b, at) =>
    b.native.layerNorm(b.id(x.x), b.id(x.gamma), b.id(x.beta), at.eps).map((m) => b.out(m))],
  ["TorchLayerNormGrad", (x, b) =>
    b.native
      .layerNormBackward(b.id(x.dy), b.id(x.x), b.id(x.mean), b.id(x.rstd), b.id(x.gamma), b.id(x.beta))
      .map((m) => b.out(m))],
  ["TorchGelu", (x, b, at) => b.out(b.native.gelu(b.id(x.x), !!at.approximate))],
  ["TorchGeluGrad", (x, b, at) => b.out(b.native.geluBackward(b.id(x.dy), b.id(x.x), !!at.approximate))],
  ["TorchQuickGelu", (x, b) => b.out(b.native.quickGelu(b.id(x.x)))],
  ["TorchQuickGeluGrad", (x, b) => b.out(b.native.quickGeluBackward(b.id(x.dy), b.id(x.x)))],
  ["TorchLinear", (x, b) => b.out(b.native.linear(b.id(x.x), b.id(x.w), x.b ? b.id(x.b) : -1))],
  ["TorchLinearGrad", (x, b, at) =>
    b.native.linearBackward(b.id(x.dy), b.id(x.x), b.id(x.w), !!at.hasBias).map((m) => b.out(m))],
  ["TorchAttention", (x, b, at) =>
    b.native
      .attention(b.id(x.q), b.id(x.k), b.id(x.v), !!at.causal, x.mask ? b.id(x.mask) : -1, at.scale)
      .map((m) => b.out(m))],
  ["TorchAttentionGrad", (x, b, at) =>
    b.native
      .attentionBackward(b.id(x.dy), b.id(x.q), b.id(x.k), b.id(x.v), b.id(x.probs), at.scale)
      .map((m) => b.out(m))],
  ["TorchSoftmaxCE", (x, b) => b.native.softmaxCrossEntropy(b.id(x.logits), b.id(x.labels)).map((m) => b.out(m))],
  ["TorchBlock", (x, b, at) =>
    b.native
      .blockForward(b.id(x.x), BLOCK_PARAMS.map((n) => b.id(x[n]!)), at.heads, !!at.causal, !!at.quickGelu, at.eps, !!at.needGrad)
      .map((m) => b.out(m))],
  ["TorchBlockGrad", (x, b) => b.native.blockBackward(b.id(x.handle), b.id(x.dy)).map((m) => b.out(m))],
  ["TorchSoftmaxCEGrad", (x, b) =>
    b.out(b.native.softmaxCrossEntropyBackward(b.id(x.dy), b.id(x.logProbs), b.id(x.labels)))],
];

let registered = false;
export function registerTorchFusedKernels(): void {
  if (registered) return;
  for (const [kernelName, fn] of fused) {
    tf.registerKernel({
      kernelName,
      backendName: TORCH_BACKEND_NAME,
      kernelFunc: ((a: { inputs: Record<string, TensorInfo>; backend: TorchBackend; attrs?: NamedAttrMap }) =>
        fn(a.inputs, a.backend, (a.attrs ?? {}) as Record<string, any>)) as unknown as KernelFunc,
    });
  }
  registered = true;
}

function run(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as NamedAttrMap);
  return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
}

/** Layer norm over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta. */
export function torchLayerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): tf.Tensor {
  const f = tf.customGrad((xx, g, bb, save) => {
    const [y, mean, rstd] = run("TorchLayerNorm", { x: xx as tf.Tensor, gamma: g as tf.Tensor, beta: bb as tf.Tensor }, { eps });
    (save as tf.GradSaveFunc)([xx as tf.Tensor, mean, rstd, g as tf.Tensor, bb as tf.Tensor]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [sx, sm, sr, sg, sb] = saved;
        return run("TorchLayerNormGrad", { dy: dy as tf.Tensor, x: sx, mean: sm, rstd: sr, gamma: sg, beta: sb });
      },
    };
  });
  return f(x, gamma, beta);
}

/** GELU, exact (erf) by default or the tanh approximation. */
export function torchGelu(x: tf.Tensor, approximate = false): tf.Tensor {
  const f = tf.customGrad((xx, save) => {
    const [y] = run("TorchGelu", { x: xx as tf.Tensor }, { approximate });
    (save as tf.GradSaveFunc)([xx as tf.Tensor]);
    return {
      value: y,
      gradFunc: (dy, saved) => run("TorchGeluGrad", { dy: dy as tf.Tensor, x: saved[0] }, { approximate })[0],
    };
  });
  return f(x);
}

/** QuickGELU x·σ(1.702x), as OpenAI CLIP. */
export function torchQuickGelu(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((xx, save) => {
    const [y] = run("TorchQuickGelu", { x: xx as tf.Tensor });
    (save as tf.GradSaveFunc)([xx as tf.Tensor]);
    return { value: y, gradFunc: (dy, saved) => run("TorchQuickGeluGrad", { dy: dy as tf.Tensor, x: saved[0] })[0] };
  });
  return f(x);
}

/** y = x·Wᵀ + b over the last axis of x, W [out, in] (PyTorch layout); one addmm forward, one call backward. */
export function torchLinear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const hasBias = b !== undefined;
  const f = tf.customGrad((...args) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xx, ww, bb] = args.slice(0, -1) as tf.Tensor[];
    const inputs: Record<string, tf.Tensor> = { x: xx, w: ww };
    if (bb) inputs.b = bb;
    const [y] = run("TorchLinear", inputs);
    save([xx, ww]);
    return {
      value: y,
      gradFunc: (dy, saved) => run("TorchLinearGrad", { dy: dy as tf.Tensor, x: saved[0], w: saved[1] }, { hasBias }),
    };
  });
  return hasBias ? f(x, w, b) : f(x, w);
}

/** Rows of table [V, W] at int32 ids [...] -> [..., W]; backward is one index_add. */
export function torchEmbedding(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const [vocab, width] = table.shape;
  // ids are a customGrad input (zero gradient) so the tape keeps them alive.
  const f = tf.customGrad((t, i, save) => {
    (save as tf.GradSaveFunc)([i as tf.Tensor]);
    return {
      value: tf.gather(t as tf.Tensor, i as tf.Tensor),
      gradFunc: (dy, saved) => [
        tf.unsortedSegmentSum(tf.reshape(dy as tf.Tensor, [-1, width]), tf.reshape(saved[0], [-1]), vocab),
        tf.zerosLike(saved[0]),
      ],
    };
  });
  return f(table, ids);
}

export interface TorchAttentionOptions {
  causal?: boolean;
  /** Boolean keep-mask or additive float mask, broadcastable to [B, H, Lq, Lk]; not differentiated. */
  mask?: tf.Tensor;
  /** Default 1/sqrt(headDim). */
  scale?: number;
}

/** softmax(q kᵀ · scale + mask) v on [B, H, L, D] tensors. */
export function torchAttention(
  q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, opts: TorchAttentionOptions = {},
): tf.Tensor4D {
  const scale = opts.scale ?? 1 / Math.sqrt(q.shape[3]);
  const causal = opts.causal ?? false;
  const mask = opts.mask;
  // A mask is a customGrad input (zero gradient), not a closure, so the tape
  // keeps it alive until the backward pass.
  const f = tf.customGrad((...args) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [qq, kk, vv, mm] = args.slice(0, -1) as tf.Tensor[];
    const inputs: Record<string, tf.Tensor> = { q: qq, k: kk, v: vv };
    if (mm) inputs.mask = mm;
    const [out, probs] = run("TorchAttention", inputs, { causal, scale });
    save([qq, kk, vv, probs]);
    return {
      value: out,
      gradFunc: (dy, saved) => {
        const [sq, sk, sv, sp] = saved;
        const g = run("TorchAttentionGrad", { dy: dy as tf.Tensor, q: sq, k: sk, v: sv, probs: sp }, { scale });
        return mm ? [...g, tf.zerosLike(mm)] : g;
      },
    };
  });
  if (mask) return f(q, k, v, mask) as tf.Tensor4D;
  return f(q, k, v) as tf.Tensor4D;
}

/**
 * Per-row softmax cross-entropy of logits [N, C] against int32 class ids [N]
 * or float targets [N, C] (targets are not differentiated).
 */
export function torchSoftmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor): tf.Tensor1D {
  // labels are a customGrad input (with a zero gradient) rather than a closure
  // so the tape keeps them alive until the backward pass.
  const f = tf.customGrad((z, y, save) => {
    const [loss, logProbs] = run("TorchSoftmaxCE", { logits: z as tf.Tensor, labels: y as tf.Tensor });
    (save as tf.GradSaveFunc)([logProbs, y as tf.Tensor]);
    return {
      value: loss,
      gradFunc: (dy, saved) => [
        run("TorchSoftmaxCEGrad", { dy: dy as tf.Tensor, logProbs: saved[0], labels: saved[1] })[0],
        tf.zerosLike(saved[1]),
      ],
    };
  });
  return f(logits, labels) as tf.Tensor1D;
}

/**
 * A pre-LN residual block, x + attn(ln_1(x)) then x + mlp(ln_2(x)), as one
 * addon call forward and one backward (libtorch's autograd inside). `params`
 * in BLOCK_PARAMS order. Outside a gradient tape nothing is recorded.
 */
export function torchResidualBlock(
  x: tf.Tensor3D, params: tf.Tensor[], heads: number, causal: boolean, act: "gelu" | "quick_gelu", eps: number,
): tf.Tensor3D {
  const attrs = { heads, causal, quickGelu: act === "quick_gelu", eps };
  const named = (xx: tf.Tensor, ps: tf.Tensor[]) => Object.fromEntries([["x", xx], ...BLOCK_PARAMS.map((n, i) => [n, ps[i]!])]);
  // The engine's own test for "a gradient is being recorded" (tfjs-core 4.x).
  const taping = (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
  if (!taping) return run("TorchBlock", named(x, params), { ...attrs, needGrad: false })[0] as tf.Tensor3D;
  const f = tf.customGrad((...args) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xx, ...ps] = args.slice(0, -1) as tf.Tensor[];
    const [y, handle] = run("TorchBlock", named(xx!, ps), { ...attrs, needGrad: true });
    save([handle!]);
    return { value: y!, gradFunc: (dy, saved) => run("TorchBlockGrad", { handle: saved[0]!, dy: dy as tf.Tensor }) };
  });
  return f(x, ...params) as tf.Tensor3D;
}

/**
 * The fused implementations keyed by the model's op names
 * (src/model/ops/registry.ts OpName), with the model's signatures.
 */
export function torchFusedOps(): Record<string, (...args: any[]) => tf.Tensor> {
  return {
    layerNorm: (x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number) => torchLayerNorm(x, gamma, beta, eps),
    attention: (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, causal: boolean, scale: number) =>
      torchAttention(q, k, v, { causal, scale }),
    gelu: (x: tf.Tensor) => torchGelu(x, false),
    quickGelu: (x: tf.Tensor) => torchQuickGelu(x),
    softmaxCrossEntropy: (logits: tf.Tensor2D, labels: tf.Tensor1D) => torchSoftmaxCrossEntropy(logits, labels),
    linear: (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor) => torchLinear(x, w, b),
    embedding: (table: tf.Tensor2D, ids: tf.Tensor) => torchEmbedding(table, ids),
    residualBlock: torchResidualBlock,
  };
}
