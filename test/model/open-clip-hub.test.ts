// open_clip model folders and Hugging Face cache entries (hf-hub:ORG/NAME):
// open_clip_config.json becomes a clipts model config, the weights load for
// evaluation, and what is missing is reported with where it was looked for.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { setBackend } from "../../src/backend/index.js";
import { loadEvalModel } from "../../src/model/load.js";
import { countParams, createModel, disposeModel, getModelConfig } from "../../src/model/index.js";
import { hfHubSnapshot, openClipConfig } from "../../src/model/open-clip-hub.js";
import { writeSafetensors } from "../../src/model/safetensors.js";

const savedHome = process.env.HF_HOME;
afterEach(() => {
  if (savedHome === undefined) delete process.env.HF_HOME;
  else process.env.HF_HOME = savedHome;
});

/** A Hugging Face cache laid out as huggingface_hub writes it, with one snapshot. */
function fakeCache(org: string, name: string, files: Record<string, string | Buffer>): { home: string; snap: string } {
  const home = mkdtempSync(path.join(tmpdir(), "clipts-hf-"));
  const repo = path.join(home, "hub", `models--${org}--${name}`);
  const snap = path.join(repo, "snapshots", "0123abcd");
  mkdirSync(snap, { recursive: true });
  mkdirSync(path.join(repo, "refs"));
  writeFileSync(path.join(repo, "refs", "main"), "0123abcd\n");
  for (const [f, data] of Object.entries(files)) writeFileSync(path.join(snap, f), data);
  return { home, snap };
}

describe("open_clip configs", () => {
  it("open_clip's ViT-B-16.json becomes the built-in ViT-B-16 (same towers, same parameter count)", () => {
    // open_clip src/open_clip/model_configs/ViT-B-16.json
    const c = openClipConfig("x", {
      embed_dim: 512,
      vision_cfg: { image_size: 224, layers: 12, width: 768, patch_size: 16 },
      text_cfg: { context_length: 77, vocab_size: 49408, width: 512, heads: 8, layers: 12 },
    });
    const b = getModelConfig("ViT-B-16");
    expect({ ...c, name: b.name }).toEqual(b);
    expect(countParams(c)).toBe(149_620_737);
    expect(openClipConfig("q", { embed_dim: 512, quick_gelu: true, vision_cfg: { patch_size: 32 }, text_cfg: {} }).act).toBe("quick_gelu");
  });

  // open_clip 3.3 src/open_clip/model_configs/<name>.json (text_cfg's tokenizer keys left out).
  const siglipJson = (embed: number, size: number, timm: string, text: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    embed_dim: embed, init_logit_bias: -10, custom_text: true,
    vision_cfg: { image_size: size, timm_model_name: timm, timm_model_pretrained: false, timm_pool: "map", timm_proj: "none" },
    text_cfg: { no_causal_mask: true, proj_bias: true, pool_type: "last", norm_kwargs: { eps: 1e-6 }, ...text, ...extra },
  });

  it("open_clip's SigLIP configs (timm trunks) become the built-in SigLIP models", () => {
    const cases: [string, Record<string, unknown>][] = [
      ["ViT-B-16-SigLIP", siglipJson(768, 224, "vit_base_patch16_siglip_224", { context_length: 64, vocab_size: 32000, width: 768, heads: 12, layers: 12 })],
      ["ViT-B-16-SigLIP-256", siglipJson(768, 256, "vit_base_patch16_siglip_256", { context_length: 64, vocab_size: 32000, width: 768, heads: 12, layers: 12 })],
      ["ViT-L-16-SigLIP-256", siglipJson(1024, 256, "vit_large_patch16_siglip_256", { context_length: 64, vocab_size: 32000, width: 1024, heads: 16, layers: 24 })],
      ["ViT-SO400M-14-SigLIP", siglipJson(1152, 224, "vit_so400m_patch14_siglip_224", { context_length: 16, vocab_size: 32000, width: 1152, heads: 16, layers: 27, mlp_ratio: 3.7362 })],
    ];
    for (const [name, json] of cases) {
      const b = getModelConfig(name);
      expect({ ...openClipConfig("x", json), name }).toEqual(b);
    }
    // A trunk with no built-in name: SigLIP's giant (gopt) image tower with an SO400M-sized text tower.
    const gopt = openClipConfig("gopt", siglipJson(1536, 256, "vit_giantopt_patch16_siglip_256", { context_length: 64, vocab_size: 256000, width: 1152, heads: 16, layers: 27, mlp_ratio: 3.7362 }));
    expect(gopt.vision).toMatchObject({ width: 1536, layers: 40, heads: 16, patchSize: 16, imageSize: 256, pool: "map", layout: "timm" });
    expect(gopt.text).toMatchObject({ width: 1152, causal: false, pool: "last", customText: true, projBias: true });
  });

  it("refuses what clipts does not build, naming the key", () => {
    expect(() => openClipConfig("s", { embed_dim: 768, vision_cfg: { timm_model_name: "convnext_base" }, text_cfg: {} }, "cfg.json"))
      .toThrow(/cfg\.json: vision_cfg\.timm_model_name "convnext_base"/);
    expect(() => openClipConfig("s", { embed_dim: 768, vision_cfg: {}, text_cfg: { hf_model_name: "xlm-roberta-base" } }, "cfg.json"))
      .toThrow(/cfg\.json: text_cfg\.hf_model_name "xlm-roberta-base"/);
    // SigLIP 2's text towers use the tanh GELU, which clipts does not have.
    const siglip2 = siglipJson(768, 224, "vit_base_patch16_siglip_224", { context_length: 64, vocab_size: 256000, width: 768, heads: 12, layers: 12 }, { act_kwargs: { approximate: "tanh" } });
    expect(() => openClipConfig("s", siglip2, "cfg.json")).toThrow(/cfg\.json: text_cfg\.act_kwargs\.approximate "tanh"/);
    expect(() => openClipConfig("s", { vision_cfg: {}, text_cfg: {} }, "cfg.json")).toThrow(/cfg\.json: embed_dim must be a number/);
  });
});

describe("hf-hub: cache entries", () => {
  it("loads a cached open_clip model for evaluation with its config and normalization", async () => {
    await setBackend("cpu");
    const c = getModelConfig("micro");
    const ref = createModel(c, { seed: 5 });
    const weights = path.join(mkdtempSync(path.join(tmpdir(), "clipts-w-")), "w.safetensors");
    await writeSafetensors(weights, [...ref.params].map(([name, v]) => ({ name, shape: v.shape, dtype: "F32" as const, data: () => v.dataSync() as Float32Array })));
    const cfg = {
      model_cfg: {
        embed_dim: c.embedDim,
        vision_cfg: { image_size: c.vision.imageSize, layers: c.vision.layers, width: c.vision.width, patch_size: c.vision.patchSize, head_width: c.vision.width / c.vision.heads },
        text_cfg: { context_length: c.text.contextLength, vocab_size: c.text.vocabSize, width: c.text.width, heads: c.text.heads, layers: c.text.layers },
      },
      preprocess_cfg: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    };
    const { home } = fakeCache("someorg", "micro-clip", {
      "open_clip_config.json": JSON.stringify(cfg),
      "open_clip_model.safetensors": (await import("node:fs")).readFileSync(weights),
    });
    process.env.HF_HOME = home;
    const loaded = await loadEvalModel("hf-hub:someorg/micro-clip");
    try {
      expect({ ...loaded.model.config, name: c.name }).toEqual(c);
      expect(loaded.mean).toEqual([0.5, 0.5, 0.5]);
      expect(loaded.std).toEqual([0.25, 0.25, 0.25]);
      for (const [n, v] of ref.params) expect(Array.from(loaded.model.params.get(n)!.dataSync()), n).toEqual(Array.from(v.dataSync()));
    } finally {
      loaded.dispose();
      disposeModel(ref);
    }
  });

  it("says where it looked when the model is not cached, and which revisions are", () => {
    const { home } = fakeCache("org", "there", { "open_clip_config.json": "{}" });
    expect(() => hfHubSnapshot("hf-hub:org/missing", { HF_HOME: home })).toThrow(new RegExp(`not in the local Hugging Face cache \\(looked in ${path.join(home, "hub", "models--org--missing").replace(/[.]/g, "\\.")}`));
    expect(() => hfHubSnapshot("hf-hub:org/there@v2", { HF_HOME: home })).toThrow(/revision v2 \(v2\) has no snapshot .*snapshots: 0123abcd/);
    expect(hfHubSnapshot("hf-hub:org/there", { HF_HUB_CACHE: path.join(home, "hub") })).toBe(path.join(home, "hub", "models--org--there", "snapshots", "0123abcd"));
    expect(() => hfHubSnapshot("hf-hub:nope")).toThrow(/expected hf-hub:ORG\/NAME/);
  });
});
