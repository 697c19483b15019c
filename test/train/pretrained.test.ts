// Fine-tuning from pretrained weights (model.pretrained) and LiT-style training
// with a frozen image tower (train.lock_image).
import { describe, expect, it } from "vitest";
import { loadCheckpoint } from "../../src/model/checkpoint.js";
import { loadConfig } from "../../src/train/config.js";
import { runTraining } from "../../src/train/run.js";
import { colorShards, writeConfig } from "./fixtures.js";

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

describe("model.pretrained and train.lock_image", () => {
  it("starts from the pretrained weights and, with lock_image, changes only the text side", async () => {
    const shards = await colorShards(8, 8);
    const base = { train: { steps: 3, lr: 5e-3 }, checkpoint: { every: 0, keep: 0 }, log: { tensorboard: null } };
    const [cfgA] = writeConfig(shards, base);
    const a = await runTraining(loadConfig(cfgA), { quiet: true });
    const pre = await loadCheckpoint(a.lastCheckpoint!);

    // Zero steps of learning rate change nothing: the run's weights are the pretrained ones.
    const [cfgB] = writeConfig(shards, { ...base, model: { pretrained: a.lastCheckpoint }, train: { steps: 1, lr: 1e-30, warmup: 0, seed: 99 } });
    const b = await loadCheckpoint((await runTraining(loadConfig(cfgB), { quiet: true })).lastCheckpoint!);
    for (const [n, t] of pre.weights) {
      const got = b.weights.get(n)!.data as Float32Array, want = t.data as Float32Array;
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), n).toBeLessThan(1e-6 * (1 + Math.abs(want[i]!)));
    }

    const [cfgC] = writeConfig(shards, { ...base, model: { pretrained: a.lastCheckpoint }, train: { steps: 3, lr: 5e-3, lock_image: true } });
    const c = await loadCheckpoint((await runTraining(loadConfig(cfgC), { quiet: true })).lastCheckpoint!);
    let vision = 0, changedText = 0;
    for (const [n, t] of pre.weights) {
      const unchanged = same(c.weights.get(n)!.data as Float32Array, t.data as Float32Array);
      if (n.startsWith("visual.")) {
        vision++;
        expect(unchanged, n).toBe(true);
      } else if (!unchanged) changedText++;
    }
    expect(vision).toBeGreaterThan(5);
    expect(changedText).toBeGreaterThan(5);
  });

  it("names the pretrained file and the first tensor that does not fit the architecture", async () => {
    const shards = await colorShards(4, 4);
    const [cfgA] = writeConfig(shards, { train: { steps: 1 }, checkpoint: { every: 0, keep: 0 }, log: { tensorboard: null } });
    const a = await runTraining(loadConfig(cfgA), { quiet: true });
    const [cfgB] = writeConfig(shards, { model: { name: "tiny", pretrained: a.lastCheckpoint }, train: { steps: 1 }, log: { tensorboard: null } });
    await expect(runTraining(loadConfig(cfgB), { quiet: true })).rejects.toThrow(/step-00000001\.safetensors: weight \S+ (has shape \[[\d,]+\], the model needs \[[\d,]+\]|missing)/);
  });
});
