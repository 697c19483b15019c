import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { createModel, disposeModel } from "../../src/model/index.js";
import { AdamW } from "../../src/train/adamw.js";
import { loadCheckpoint, resolveCheckpoint, restoreCheckpoint, saveCheckpoint } from "../../src/model/checkpoint.js";
import { loadWeightsInto } from "../../src/model/weights-file.js";
import { InputError } from "../../src/util/errors.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const opts = { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.2 };

describe("checkpoints", () => {
  it("round-trip weights, AdamW state and run state; the loaded model gives identical outputs", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-ck-"));
    const a = createModel("micro", { seed: 1 });
    const optA = new AdamW(a.params, opts);
    // One real update so the moments are non-zero.
    const grads = new Map([...a.params].map(([n, p]) => [n, tf.randomNormal(p.shape, 0, 1, "float32", 5)]));
    optA.apply(grads, 1e-3);
    tf.dispose([...grads.values()]);
    // A temp file left by a process killed mid-save is cleaned up by the next save.
    const stale = path.join(dir, ".step-00000006.safetensors.tmp-999999-1");
    writeFileSync(stale, "partial");
    const file = await saveCheckpoint(dir, a.params, optA, { step: 7, state: { loader: { at: 3 }, note: "x" } });
    expect(existsSync(stale)).toBe(false);
    expect(path.basename(file)).toBe("step-00000007.safetensors");
    expect(resolveCheckpoint("latest", dir)).toBe(file);
    expect(resolveCheckpoint(dir, "/nonexistent")).toBe(file);

    const b = createModel("micro", { seed: 2 });
    const optB = new AdamW(b.params, opts);
    const ck = await loadCheckpoint(file);
    expect(ck.step).toBe(7);
    expect(ck.state).toEqual({ loader: { at: 3 }, note: "x" });
    restoreCheckpoint(ck, b.params, optB);
    expect(optB.step).toBe(1);
    for (const [n, p] of a.params) expect(Array.from(b.params.get(n)!.dataSync())).toEqual(Array.from(p.dataSync()));
    for (const [n, m] of optA.expAvgSq) expect(Array.from(optB.expAvgSq.get(n)!.dataSync())).toEqual(Array.from(m.dataSync()));

    const s = a.config.vision.imageSize;
    const img = tf.randomNormal([2, s, s, 3], 0, 1, "float32", 9) as tf.Tensor4D;
    const tok = tf.tensor2d([[49406, 320, 49407, ...new Array(13).fill(0)], [49406, 1125, 2368, 49407, ...new Array(12).fill(0)]], [2, 16], "int32");
    const fa = [a.encodeImage(img), a.encodeText(tok)];
    const fb = [b.encodeImage(img), b.encodeText(tok)];
    expect(Array.from(fb[0]!.dataSync())).toEqual(Array.from(fa[0]!.dataSync()));
    expect(Array.from(fb[1]!.dataSync())).toEqual(Array.from(fa[1]!.dataSync()));

    // Weights-only loading (evaluation) ignores the optimizer tensors.
    const c = createModel("micro", { seed: 3 });
    await loadWeightsInto(c.params, file);
    expect(Array.from(c.encodeImage(img).dataSync())).toEqual(Array.from(fa[0]!.dataSync()));
    tf.dispose([img, tok, ...fa, ...fb]);
    optA.dispose();
    optB.dispose();
    [a, b, c].forEach(disposeModel);
  });

  it("rejects a checkpoint of another architecture and a missing pointer, naming the file", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-ck-"));
    const a = createModel("micro", { seed: 1 });
    const file = await saveCheckpoint(dir, a.params, null, { step: 1, state: {} });
    const other = createModel("micro-siglip", { seed: 1 });
    await expect(loadWeightsInto(other.params, file)).rejects.toThrow(InputError);
    await expect(loadWeightsInto(other.params, file)).rejects.toThrow(file);
    expect(() => resolveCheckpoint("latest", path.join(dir, "nope"))).toThrow(/no checkpoint pointer/);
    // A file that is not a clipts checkpoint.
    const bogus = path.join(dir, "bogus.safetensors");
    writeFileSync(bogus, readFileSync(file).subarray(0, 20));
    await expect(loadCheckpoint(bogus)).rejects.toThrow(InputError);
    disposeModel(a);
    disposeModel(other);
  });
});
