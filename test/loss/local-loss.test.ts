// Data-parallel losses (featureLoss with `ranks`): each rank's loss of its own
// rows against all gathered features. The rank-weighted sum of the local
// losses is the global loss in value and gradient (what the 2-process runs in
// test/train/distributed.test.ts rely on), and a rank's live memory is
// O(B_local x B_global), measured on the torch backend.
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setBackend } from "../../src/backend/index.js";
import { torchAvailable, torchNativeMemory } from "../../src/backend/torch.js";
import { clipLoss, clipLossLocal, featureLoss, sigLipLoss, sigLipLossChunked, type RankExchange } from "../../src/loss/index.js";
import { createModel, disposeModel, getModelConfig } from "../../src/model/index.js";
import { closeness, randn } from "../model/ref64.js";
import { objectiveWith } from "../../src/train/objective.js";

const N = 7, D = 4;
const unit = (seed: number) => tf.tidy(() => {
  const x = tf.tensor2d(Float32Array.from(randn(N * D, seed)), [N, D]);
  return tf.div(x, tf.norm(x, 2, 1, true)) as tf.Tensor2D;
});
// Uneven shares on purpose: rows [0, 2), [2, 3), [3, 7).
const SPLITS = [[0, 2], [2, 1], [3, 4]] as const;

/** Σ_r (n_r / N) · L_r with rank r's rows sliced out of the full (gathered) features. */
function ranked(local: (img: tf.Tensor2D, txt: tf.Tensor2D, allImg: tf.Tensor2D, allTxt: tf.Tensor2D, off: number) => tf.Scalar) {
  return (img: tf.Tensor2D, txt: tf.Tensor2D) =>
    tf.addN(SPLITS.map(([off, n]) => tf.mul(local(tf.slice(img, [off, 0], [n, D]), tf.slice(txt, [off, 0], [n, D]), img, txt, off), n / N))) as tf.Scalar;
}

function expectSame(global: (a: tf.Tensor2D, b: tf.Tensor2D, s: tf.Scalar, c: tf.Scalar) => tf.Scalar, split: (a: tf.Tensor2D, b: tf.Tensor2D, s: tf.Scalar, c: tf.Scalar) => tf.Scalar): void {
  const args = [unit(1), unit(2), tf.scalar(6), tf.scalar(-3)];
  const f = (fn: typeof global) => tf.valueAndGrads((a, b, s, c) => fn(a as tf.Tensor2D, b as tf.Tensor2D, s as tf.Scalar, c as tf.Scalar))(args);
  const want = f(global), got = f(split);
  expect(got.value.dataSync()[0]).toBeCloseTo(want.value.dataSync()[0]!, 5);
  for (let k = 0; k < 4; k++) expect(closeness(got.grads[k]!.dataSync(), want.grads[k]!.dataSync(), 1e-4, 1e-6), `gradient ${k}`).toBeLessThan(1);
}

describe("local losses over ranks (cpu)", () => {
  beforeAll(async () => {
    await setBackend("cpu");
  });
  it("clip: rank-weighted local losses give the global loss and its gradients", () => {
    expectSame(
      (a, b, s, c) => tf.add(clipLoss(a, b, s), tf.mul(0, c)) as tf.Scalar,
      (a, b, s, c) => tf.add(ranked((i, t, ai, at, off) => clipLossLocal(i, t, ai, at, off, s))(a, b), tf.mul(0, c)) as tf.Scalar,
    );
  });
  for (const chunk of [1, 3, 7]) {
    it(`siglip (blocks of ${chunk} texts): rank-weighted local losses give the global loss and its gradients`, () => {
      expectSame((a, b, s, c) => sigLipLoss(a, b, s, c), (a, b, s, c) => ranked((i, _t, _ai, at, off) => sigLipLossChunked(i, at, s, c, chunk, off))(a, b));
    });
  }
  it("rejects rows outside the gathered batch", () => {
    expect(() => clipLossLocal(unit(1), unit(2), unit(1), unit(2), 1, 1)).toThrow(/outside/);
    expect(() => sigLipLossChunked(unit(1), unit(2), 1, 0, 2, 3)).toThrow(/outside/);
  });
});

const { available, reason } = torchAvailable();
describe.skipIf(!available)(`local loss memory on the torch backend${available ? "" : ` (SKIPPED: ${reason})`}`, () => {
  beforeAll(async () => {
    await setBackend("torch");
  });
  afterAll(async () => {
    await setBackend("cpu");
  });
  for (const loss of ["clip", "siglip"] as const) {
    it(`${loss}: one rank of 8 holds far less than the global [B, B] loss`, () => {
      const model = createModel(getModelConfig(loss === "clip" ? "micro" : "micro-siglip"), { seed: 1 });
      const d = model.config.embedDim, total = 2048, world = 8, n = total / world, rank = 3;
      const all = [tf.randomNormal([total, d], 0, 1, "float32", 1), tf.randomNormal([total, d], 0, 1, "float32", 2)] as tf.Tensor2D[];
      const mine = all.map((x) => tf.slice(x, [rank * n, 0], [n, d]));
      // In-process stand-in for the collectives (only memory is measured here;
      // the values are checked above and by the 2-process runs): the other
      // ranks' rows are constants.
      const before = tf.slice(all[0]!, [0, 0], [rank * n, d]), after = tf.slice(all[0]!, [(rank + 1) * n, 0], [total - (rank + 1) * n, d]);
      const ranks: RankExchange = { rank, worldSize: world, gather: (x) => tf.concat([before, x, after]) as tf.Tensor2D, meanValue: (x) => x };
      const vars = [model.params.get("logit_scale")!, ...(loss === "siglip" ? [model.params.get("logit_bias")!] : [])];
      const peak = (img: tf.Tensor2D, txt: tf.Tensor2D, opts: Parameters<typeof featureLoss>[3]) => {
        torchNativeMemory(true);
        const { value, grads } = tf.variableGrads(() => featureLoss(model, img, txt, opts), vars);
        const p = torchNativeMemory(true).peakBytes;
        tf.dispose([value, ...Object.values(grads)]);
        return p;
      };
      const local = peak(mine[0]!, mine[1]!, { ranks });
      const global = peak(all[0]!, all[1]!, {});
      console.log(`${loss}: local-loss peak ${local} B vs global ${global} B`);
      // [B, B] logits are 16 MiB; [B/8, B] 2 MiB.
      expect(local).toBeLessThan(0.35 * global);
      tf.dispose([...all, ...mine, before, after]);
      disposeModel(model);
    });
  }

  it("train.siglip_chunk reaches the loss: the trainer's objective holds [B, chunk] blocks, same value", () => {
    const model = createModel(getModelConfig("micro-siglip"), { seed: 1 });
    const total = 2048, d = model.config.embedDim;
    const [img, txt] = [tf.randomNormal([total, d], 0, 1, "float32", 1), tf.randomNormal([total, d], 0, 1, "float32", 2)] as tf.Tensor2D[];
    const vars = [model.params.get("logit_scale")!, model.params.get("logit_bias")!];
    const run = (chunk: number | null) => {
      torchNativeMemory(true);
      const objective = objectiveWith(chunk === null ? {} : { sigLipChunk: chunk });
      const { value, grads } = tf.variableGrads(() => objective(model, img!, txt!), vars);
      const peak = torchNativeMemory(true).peakBytes;
      const v = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return { v, peak };
    };
    const chunked = run(256), plain = run(null);
    console.log(`siglip_chunk 256: peak ${chunked.peak} B vs ${plain.peak} B unchunked`);
    expect(chunked.v).toBeCloseTo(plain.v, 3);
    expect(chunked.peak).toBeLessThan(0.35 * plain.peak);
    tf.dispose([img!, txt!]);
    disposeModel(model);
  });
});
