// Inline model fields in a training config override the named architecture
// field by field, for every ModelConfig field: each built-in architecture can
// be rebuilt from "micro" plus its own fields written as config keys.
import { describe, expect, it } from "vitest";
import { getModelConfig, modelConfigs } from "../../src/model/configs.js";
import { camelCase, resolveModelConfig } from "../../src/model/overrides.js";
import { validateConfig, resolveModelConfig as resolveFromTrainConfig } from "../../src/train/config.js";

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const snakeKeys = (o: object) => Object.fromEntries(Object.entries(o).map(([k, v]) => [snake(k), v]));

describe("model overrides", () => {
  it("maps snake_case keys to the config's fields", () => {
    expect(camelCase("patch_size")).toBe("patchSize");
    expect(camelCase("init_logit_bias")).toBe("initLogitBias");
    expect(camelCase("ln_eps")).toBe("lnEps");
    expect(camelCase("width")).toBe("width");
  });

  it("rebuilds every built-in architecture from micro + its fields through a validated training config", () => {
    const names = Object.keys(modelConfigs);
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) {
      const want = getModelConfig(name);
      const { name: _n, vision, text, ...top } = want;
      const cfg = validateConfig({
        model: { name: "micro", ...snakeKeys(top), vision: snakeKeys(vision), text: snakeKeys(text) },
        data: { train: "x", batch_size: 4 },
        train: { steps: 1, lr: 1e-3 },
        checkpoint: { dir: "c" },
      }, `config for ${name}`);
      const got = resolveFromTrainConfig(cfg);
      expect({ ...got, name }).toEqual({ ...want, name });
    }
  });

  it("leaves fields it is not given as the named architecture has them, and gives SigLIP its bias", () => {
    const base = getModelConfig("ViT-B-16");
    const mc = resolveModelConfig({ name: "ViT-B-16", vision: { patch_size: 32 }, text: { context_length: 64 }, embed_dim: 256 });
    expect(mc).toEqual({ ...base, embedDim: 256, vision: { ...base.vision, patchSize: 32 }, text: { ...base.text, contextLength: 64 } });
    expect(resolveModelConfig({ name: "micro", loss: "siglip" }).initLogitBias).toBe(-10);
    expect(() => resolveModelConfig({ name: "ViT-B-16", vision: { width: 770 } })).toThrow(/heads/);
  });
});
