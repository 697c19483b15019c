// The torch backend's fused residual block (one addon call forward, one
// backward, libtorch's autograd inside) against the model's reference
// composition on the cpu backend: output and the gradient of every input.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { registerTorchBackend, torchAvailable, torchNativeMemory, torchResidualBlock } from "../../src/backend/torch.js";
import { registerFusedOp, unregisterFusedOp } from "../../src/model/ops/registry.js";
import { residualBlock, type Params } from "../../src/model/transformer.js";
import type { BlockNames } from "../../src/model/params.js";
import { check, type Inputs } from "./torch-helpers.js";

const { available, reason } = torchAvailable();
const W = 16, HEADS = 4, B = 2, T = 5;
const NAMES: BlockNames = {
  ln1: ["ln_1.weight", "ln_1.bias"], qkvW: "attn.in_proj_weight", qkvB: "attn.in_proj_bias",
  outW: "attn.out_proj.weight", outB: "attn.out_proj.bias", ln2: ["ln_2.weight", "ln_2.bias"],
  fcW: "mlp.c_fc.weight", fcB: "mlp.c_fc.bias", projW: "mlp.c_proj.weight", projB: "mlp.c_proj.bias",
};
const ORDER = [...NAMES.ln1, NAMES.qkvW, NAMES.qkvB, NAMES.outW, NAMES.outB, ...NAMES.ln2, NAMES.fcW, NAMES.fcB, NAMES.projW, NAMES.projB];
const SHAPES = [[W], [W], [3 * W, W], [3 * W], [W, W], [W], [W], [W], [4 * W, W], [4 * W], [W, 4 * W], [W]];

function inputs(m: Inputs): tf.Tensor[] {
  // Layer-norm weights around 1, the rest small, as a trained block has them.
  return [m.rand([B, T, W]), ...SHAPES.map((s, i) => (i === 0 || i === 6 ? tf.add(1, m.rand(s, -0.2, 0.2)) : m.rand(s, -0.3, 0.3)))];
}

function block(xs: tf.Tensor[], causal: boolean, act: "gelu" | "quick_gelu"): tf.Tensor3D {
  const p = new Map(ORDER.map((n, i) => [n, xs[i + 1]!])) as unknown as Params;
  return residualBlock(xs[0] as tf.Tensor3D, p, NAMES, HEADS, causal, act, 1e-5);
}

describe.skipIf(!available)(`torch fused residual block${available ? "" : ` (SKIPPED: ${reason})`}`, () => {
  beforeAll(() => {
    registerTorchBackend();
    // Registered by default (unless CLIPTS_TORCH_BLOCK=0); made sure of here.
    registerFusedOp("torch", "residualBlock", torchResidualBlock);
    return () => unregisterFusedOp("torch", "residualBlock");
  });

  for (const causal of [false, true]) {
    for (const act of ["gelu", "quick_gelu"] as const) {
      it(`causal=${causal}, ${act}: output and all 13 gradients match the reference composition on cpu`, () =>
        check((m: Inputs) => {
          const xs = inputs(m);
          const w = m.rand([B, T, W]);
          const { value, grads } = tf.valueAndGrads((...ys: tf.Tensor[]) => tf.sum(tf.mul(block(ys, causal, act), w)) as tf.Scalar)(xs);
          return [block(xs, causal, act), value, ...grads];
        }, 1e-3, 1e-5));
    }
  }

  it("outside a gradient tape it records nothing and gives the same output", async () => {
    await tf.setBackend("torch");
    const xs = inputs(new (await import("./torch-helpers.js")).Inputs(3));
    const live = torchNativeMemory().live;
    const plain = block(xs, true, "gelu");
    // No graph handle: one new tensor only.
    expect(torchNativeMemory().live, "after the plain call").toBe(live + 1);
    const { value, grads } = tf.valueAndGrads((...ys: tf.Tensor[]) => tf.sum(block(ys, true, "gelu")) as tf.Scalar)(xs);
    expect(value.dataSync()[0]).toBeCloseTo(tf.tidy(() => tf.sum(plain).dataSync()[0]!), 4);
    tf.dispose([plain, value, ...grads]);
    // The recorded graph went with its handle.
    expect(torchNativeMemory().live, "after dispose").toBe(live);
    tf.dispose(xs);
  });

  it("counts the recorded graph's activations in the live and peak bytes while it lives", async () => {
    await tf.setBackend("torch");
    const xs = inputs(new (await import("./torch-helpers.js")).Inputs(4));
    const before = torchNativeMemory(true).bytes;
    const { value, grads } = tf.valueAndGrads((...ys: tf.Tensor[]) => tf.sum(block(ys, false, "gelu")) as tf.Scalar)(xs);
    // Saved activations per block in float32: ln_1 out, qkv (3x), attention out
    // and its merged copy, x1, ln_2 out, fc out (4x), GELU out (4x) = 16 x [B, T, W].
    const acts = 16 * B * T * W * 4;
    const m = torchNativeMemory();
    expect(m.peakBytes - before).toBeGreaterThanOrEqual(acts);
    tf.dispose([value, ...grads]);
    // The graph's bytes leave the count with the graph.
    expect(torchNativeMemory().bytes).toBe(before);
    tf.dispose(xs);
  });
});
