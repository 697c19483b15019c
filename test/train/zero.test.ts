// ZeRO-1's parameter shares: every parameter has exactly one owner, the same
// table on every rank, and each rank's AdamW holds moments for its share only,
// about 1/W of the total for real models. (The 2-process runs in
// distributed.test.ts check the sharded training against 1 process.)
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { setBackend } from "../../src/backend/index.js";
import { createModel, disposeModel, modelConfigs, paramShapes } from "../../src/model/index.js";
import { AdamW } from "../../src/train/adamw.js";
import { ownedBy, shardOwners } from "../../src/train/zero.js";

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

describe("ZeRO-1 shares", () => {
  beforeAll(async () => {
    await setBackend("cpu");
  });

  it("split ViT-B/16 and ViT-L/14 into shares of about total / W (whole tensors), each parameter once", () => {
    for (const name of ["ViT-B-16", "ViT-L-14"]) {
      const shapes = paramShapes(modelConfigs[name]!);
      const total = [...shapes.values()].reduce((a, s) => a + size(s), 0);
      for (const w of [2, 4, 8]) {
        const owners = shardOwners(shapes, w);
        // Same table whatever order the names come in (every rank must agree).
        const reversed = shardOwners(new Map([...shapes].reverse()), w);
        expect([...reversed].sort()).toEqual([...owners].sort());
        const shares = Array.from({ length: w }, (_, r) => [...ownedBy(owners, r)].reduce((a, n) => a + size(shapes.get(n)!), 0));
        expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
        // Whole tensors: the largest share is total / W, or the largest tensor (B/16's
        // 25.3M-element token embedding at W = 8) where that is bigger.
        const largest = Math.max(...[...shapes.values()].map(size));
        for (const s of shares) expect(s, `${name} W=${w}: ${shares}`).toBeLessThanOrEqual(Math.max(1.01 * (total / w), largest));
        // And no rank is left idle: the others share the rest evenly.
        expect(Math.min(...shares), `${name} W=${w}: ${shares}`).toBeGreaterThan(0.99 * Math.min(total / w, (total - largest) / (w - 1)));
      }
    }
  });

  it("a rank's AdamW holds moments only for its share and updates only those parameters", () => {
    const model = createModel("micro", { seed: 1 });
    const shapes = new Map([...model.params].map(([n, p]) => [n, p.shape]));
    const owners = shardOwners(shapes, 2);
    const owned = ownedBy(owners, 1);
    const opt = new AdamW(model.params, { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.2, owned });
    expect([...opt.expAvg.keys()].sort()).toEqual([...owned].sort());
    expect([...opt.expAvgSq.keys()].sort()).toEqual([...owned].sort());
    const before = new Map([...model.params].map(([n, p]) => [n, p.dataSync().slice()]));
    const grads = new Map([...model.params].map(([n, p]) => [n, tf.onesLike(p)]));
    opt.apply(grads, 1e-2);
    for (const [n, p] of model.params) {
      const moved = p.dataSync().some((v, i) => v !== before.get(n)![i]);
      expect(moved, n).toBe(owned.has(n));
    }
    tf.dispose([...grads.values()]);
    opt.dispose();
    disposeModel(model);
  });
});
