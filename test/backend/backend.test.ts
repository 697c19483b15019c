// Backend selection and cross-backend agreement of the model (cpu vs wasm).
import { afterAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import { availableBackends, setBackend } from "../../src/backend/index.js";
import { createModel, disposeModel, getModelConfig, type ModelConfig } from "../../src/model/index.js";
import { modelLoss } from "../../src/loss/index.js";
import { closeness } from "../model/ref64.js";

afterAll(async () => {
  await setBackend("cpu");
});

describe("setBackend", () => {
  it("activates cpu and wasm and lists them as available", async () => {
    expect(await setBackend("cpu")).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect(await setBackend("wasm")).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    const av = await availableBackends();
    expect(av).toContain("cpu");
    expect(av).toContain("wasm");
    expect(av.indexOf("wasm")).toBeLessThan(av.indexOf("cpu"));
  });

  it("auto picks the first available backend in preference order", async () => {
    const av = await availableBackends();
    expect(await setBackend("auto")).toBe(av[0]);
  });

  it("explicit optional backends fail clearly when not installed", async () => {
    const av = await availableBackends();
    if (!av.includes("torch")) await expect(setBackend("torch")).rejects.toThrow(/torch/);
    if (!av.includes("tensorflow")) await expect(setBackend("tensorflow")).rejects.toThrow(/tfjs-node/);
    await expect(setBackend("nope" as "cpu")).rejects.toThrow(/unknown backend "nope"/);
  });
});

describe("cpu and wasm agree", () => {
  for (const name of ["micro", "micro-siglip"]) {
    it(`${name}: features, loss and gradients`, async () => {
      const base = getModelConfig(name);
      const c: ModelConfig = { ...base, text: { ...base.text, vocabSize: 100 } };
      const run = async (be: "cpu" | "wasm") => {
        await setBackend(be);
        const m = createModel(c, { seed: 2 });
        const imgs = tf.tensor4d(Array.from({ length: 4 * 16 * 16 * 3 }, (_, i) => Math.sin(i * 0.37)), [4, 16, 16, 3]);
        const toks = tf.tensor2d(Array.from({ length: 4 * c.text.contextLength }, (_, i) => (i * 37) % 97), [4, c.text.contextLength], "int32");
        const img = m.encodeImage(imgs).dataSync();
        const txt = m.encodeText(toks).dataSync();
        const { value, grads } = tf.variableGrads(() => modelLoss(m, imgs, toks), [...m.params.values()]);
        const names = [...m.params.keys()];
        const ids = [...m.params.values()].map((v) => v.name);
        const g = Object.fromEntries(names.map((n, i) => [n, grads[ids[i]!]!.dataSync()]));
        const out = { img, txt, loss: value.dataSync()[0]!, g };
        disposeModel(m);
        return out;
      };
      const a = await run("cpu");
      const b = await run("wasm");
      expect(closeness(b.img, a.img, 1e-4, 1e-5)).toBeLessThan(1);
      expect(closeness(b.txt, a.txt, 1e-4, 1e-5)).toBeLessThan(1);
      expect(b.loss).toBeCloseTo(a.loss, 4);
      for (const k of Object.keys(a.g)) {
        const scale = Math.max(...Array.from(a.g[k]!, Math.abs));
        expect(closeness(b.g[k]!, a.g[k]!, 1e-3, 1e-4 * scale + 1e-7), k).toBeLessThan(1);
      }
    });
  }
});
