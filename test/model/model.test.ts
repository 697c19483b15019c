// Model structure (open_clip names, shapes, counts, FLOPs), initialization,
// pooling and masking semantics, and a tiny overfit check.
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend/index.js";
import { countParams, createModel, disposeModel, forwardFlopsPerSample, getModelConfig, memoryEstimate, modelConfigs, paramShapes, validateModelConfig, type ModelConfig } from "../../src/model/index.js";
import { clipLoss, l2normalize, logitScaleFromParam, modelLoss } from "../../src/loss/index.js";
import { closeness } from "./ref64.js";

beforeAll(async () => {
  await setBackend("cpu");
});

/** A named small config with a small vocabulary, so Adam over the embedding stays cheap. */
function small(name: "micro" | "micro-siglip", vocabSize = 64): ModelConfig {
  const c = getModelConfig(name);
  return { ...c, text: { ...c.text, vocabSize } };
}

function tokens(b: number, len: number, vocab: number, seed: number, eotAt?: number[]): tf.Tensor2D {
  const data: number[] = [];
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < len; j++) data.push(eotAt && j === eotAt[i] ? vocab - 1 : ((i * 131 + j * 17 + seed * 7) % (vocab - 2)) + 1);
  }
  return tf.tensor2d(data, [b, len], "int32");
}

describe("parameter table", () => {
  it("counts equal open_clip's for the named configs", () => {
    // CLIP counts as printed by open_clip for these configs.
    expect(countParams(modelConfigs["ViT-B-32"]!)).toBe(151_277_313);
    expect(countParams(modelConfigs["ViT-B-16"]!)).toBe(149_620_737);
    expect(countParams(modelConfigs["ViT-L-14"]!)).toBe(427_616_513);
    // open_clip 3.3, create_model(name) on the meta device, sum of parameter numels
    // (configs: src/open_clip/model_configs/ViT-L-14-336.json, ViT-H-14.json, ViT-bigG-14.json).
    expect(countParams(modelConfigs["ViT-L-14-336"]!)).toBe(427_944_193);
    expect(countParams(modelConfigs["ViT-H-14"]!)).toBe(986_109_441);
    expect(countParams(modelConfigs["ViT-bigG-14"]!)).toBe(2_539_567_105);
    expect(countParams(modelConfigs["ViT-SO400M-14-SigLIP"]!)).toBe(877_360_306);
    // SigLIP: computed from the timm trunk + CustomTextCLIP tables; open_clip's
    // docs/model_profile.csv lists 203.16M, 203.20M and 652.15M.
    expect(countParams(modelConfigs["ViT-B-16-SigLIP"]!)).toBe(203_155_970);
    expect(countParams(modelConfigs["ViT-B-16-SigLIP-256"]!)).toBe(203_202_050);
    expect(countParams(modelConfigs["ViT-L-16-SigLIP-256"]!)).toBe(652_150_786);
  });

  it("state-dict names and shapes equal open_clip's for the large configs (samples; all were compared once)", () => {
    // open_clip 3.3 create_model(name).state_dict() on the meta device: entry count and sample shapes.
    const want: [string, number, Record<string, number[]>][] = [
      ["ViT-H-14", 686, { "visual.conv1.weight": [1280, 3, 14, 14], "visual.transformer.resblocks.31.attn.in_proj_weight": [3840, 1280], "visual.proj": [1280, 1024], "transformer.resblocks.23.mlp.c_fc.weight": [4096, 1024], "text_projection": [1024, 1024] }],
      ["ViT-bigG-14", 974, { "visual.transformer.resblocks.47.mlp.c_fc.weight": [8192, 1664], "visual.proj": [1664, 1280], "positional_embedding": [77, 1280], "text_projection": [1280, 1280] }],
      ["ViT-L-14-336", 446, { "visual.positional_embedding": [577, 1024] }],
      ["ViT-SO400M-14-SigLIP", 674, { "visual.trunk.pos_embed": [1, 256, 1152], "visual.trunk.attn_pool.mlp.fc1.weight": [4304, 1152], "text.positional_embedding": [16, 1152], "text.text_projection.bias": [1152] }],
    ];
    for (const [name, count, shapes] of want) {
      const mine = paramShapes(modelConfigs[name]!);
      expect(mine.size, name).toBe(count);
      for (const [k, shape] of Object.entries(shapes)) expect(mine.get(k), `${name} ${k}`).toEqual(shape);
    }
  });

  it("forward GFLOPs equal open_clip's model_profile.csv (2·MACs)", () => {
    const want: Record<string, number> = { "ViT-B-32": 14.78, "ViT-B-16": 41.09, "ViT-L-14": 175.33, "ViT-B-16-SigLIP": 46.44, "ViT-B-16-SigLIP-256": 57.84, "ViT-L-16-SigLIP-256": 201.62 };
    for (const [n, g] of Object.entries(want)) expect(Math.abs(forwardFlopsPerSample(modelConfigs[n]!) / 1e9 - g)).toBeLessThan(0.006);
  });

  it("uses open_clip state-dict names and PyTorch shapes", () => {
    const s = paramShapes(modelConfigs["ViT-B-32"]!);
    expect(s.get("visual.conv1.weight")).toEqual([768, 3, 32, 32]);
    expect(s.get("visual.class_embedding")).toEqual([768]);
    expect(s.get("visual.positional_embedding")).toEqual([50, 768]);
    expect(s.get("visual.transformer.resblocks.11.attn.in_proj_weight")).toEqual([2304, 768]);
    expect(s.get("visual.transformer.resblocks.0.mlp.c_fc.weight")).toEqual([3072, 768]);
    expect(s.get("visual.proj")).toEqual([768, 512]);
    expect(s.get("token_embedding.weight")).toEqual([49408, 512]);
    expect(s.get("positional_embedding")).toEqual([77, 512]);
    expect(s.get("transformer.resblocks.0.attn.out_proj.weight")).toEqual([512, 512]);
    expect(s.get("ln_final.weight")).toEqual([512]);
    expect(s.get("text_projection")).toEqual([512, 512]);
    expect(s.get("logit_scale")).toEqual([]);
    expect(s.has("logit_bias")).toBe(false);
    const g = paramShapes(modelConfigs["ViT-B-16-SigLIP"]!);
    expect(g.get("visual.trunk.patch_embed.proj.weight")).toEqual([768, 3, 16, 16]);
    expect(g.get("visual.trunk.pos_embed")).toEqual([1, 196, 768]);
    expect(g.get("visual.trunk.blocks.0.attn.qkv.weight")).toEqual([2304, 768]);
    expect(g.get("visual.trunk.attn_pool.latent")).toEqual([1, 1, 768]);
    expect(g.get("visual.trunk.attn_pool.kv.weight")).toEqual([1536, 768]);
    expect(g.get("text.token_embedding.weight")).toEqual([32000, 768]);
    expect(g.get("text.positional_embedding")).toEqual([64, 768]);
    expect(g.get("text.text_projection.weight")).toEqual([768, 768]);
    expect(g.get("logit_bias")).toEqual([]);
  });

  it("memory estimate counts 16 bytes per parameter plus activations growing with batch", () => {
    const c = modelConfigs["tiny"]!;
    const m1 = memoryEstimate(c, 1), m2 = memoryEstimate(c, 2);
    expect(m1.paramBytes).toBe(16 * countParams(c));
    expect(m2.activationBytes).toBe(2 * m1.activationBytes);
  });

  it("rejects inconsistent configs naming the key", () => {
    const c = getModelConfig("micro");
    expect(() => validateModelConfig({ ...c, vision: { ...c.vision, patchSize: 5 } })).toThrow(/vision.patchSize/);
    expect(() => validateModelConfig({ ...c, text: { ...c.text, heads: 3 } })).toThrow(/text.heads/);
    expect(() => validateModelConfig({ ...c, vision: { ...c.vision, pool: "map" } })).toThrow(/vision.pool/);
    expect(() => getModelConfig("ViT-nope")).toThrow(/unknown model config/);
  });
});

describe("initialization", () => {
  const c = getModelConfig("micro");
  const m = createModel(c, { seed: 3 });
  const std = (name: string) => {
    const v = m.params.get(name)!.dataSync();
    let s = 0, s2 = 0;
    for (const x of v) { s += x; s2 += x * x; }
    return Math.sqrt(s2 / v.length - (s / v.length) ** 2);
  };
  const w = c.text.width, L = c.text.layers, vw = c.vision.width;
  it.each([
    ["token_embedding.weight", 0.02, 0.01],
    ["positional_embedding", 0.01, 0.1],
    ["transformer.resblocks.0.attn.in_proj_weight", w ** -0.5, 0.05],
    ["transformer.resblocks.1.mlp.c_fc.weight", (2 * w) ** -0.5, 0.05],
    ["transformer.resblocks.1.mlp.c_proj.weight", w ** -0.5 * (2 * L) ** -0.5, 0.05],
    ["text_projection", w ** -0.5, 0.1],
    ["visual.positional_embedding", vw ** -0.5, 0.15],
    // PyTorch defaults in the vision tower: U(±1/√fan_in) has std bound/√3
    ["visual.conv1.weight", 1 / Math.sqrt(3 * 8 * 8) / Math.sqrt(3), 0.05],
    ["visual.transformer.resblocks.0.attn.in_proj_weight", Math.sqrt(6 / (4 * vw)) / Math.sqrt(3), 0.05],
  ])("%s has std ≈ %f", (name, want, tol) => {
    expect(Math.abs(std(name) / want - 1)).toBeLessThan(tol);
  });
  it("layer norms are (1, 0), biases of attention are 0, logit scale ln(1/0.07)", () => {
    expect(Array.from(m.params.get("ln_final.weight")!.dataSync()).every((x) => x === 1)).toBe(true);
    expect(Array.from(m.params.get("visual.ln_pre.bias")!.dataSync()).every((x) => x === 0)).toBe(true);
    expect(Array.from(m.params.get("transformer.resblocks.0.attn.in_proj_bias")!.dataSync()).every((x) => x === 0)).toBe(true);
    expect(m.params.get("logit_scale")!.dataSync()[0]).toBeCloseTo(Math.log(1 / 0.07), 5);
  });
  it("SigLIP starts at t' = ln 10, b = −10", () => {
    const s = createModel(small("micro-siglip"));
    expect(s.params.get("logit_scale")!.dataSync()[0]).toBeCloseTo(Math.log(10), 5);
    expect(s.params.get("logit_bias")!.dataSync()[0]).toBe(-10);
    disposeModel(s);
  });
  it("is deterministic in the seed", () => {
    const a = createModel(small("micro"), { seed: 3 }), b = createModel(small("micro"), { seed: 3 }), d = createModel(small("micro"), { seed: 4 });
    const k = "visual.proj";
    expect(Array.from(a.params.get(k)!.dataSync())).toEqual(Array.from(b.params.get(k)!.dataSync()));
    expect(Array.from(a.params.get(k)!.dataSync())).not.toEqual(Array.from(d.params.get(k)!.dataSync()));
    [a, b, d].forEach(disposeModel);
  });
});

describe("encoders", () => {
  it("output [B, embedDim] for CLIP and SigLIP layouts", () => {
    for (const name of ["micro", "micro-siglip"] as const) {
      const c = small(name);
      const m = createModel(c);
      const imgs = tf.randomNormal([3, c.vision.imageSize, c.vision.imageSize, 3], 0, 1, "float32", 1) as tf.Tensor4D;
      expect(m.encodeImage(imgs).shape).toEqual([3, c.embedDim]);
      expect(m.encodeText(tokens(3, c.text.contextLength, 64, 1, [4, 5, 6])).shape).toEqual([3, c.embedDim]);
      expect(() => m.encodeImage(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D)).toThrow(/NHWC/);
      disposeModel(m);
    }
  });

  it("patch embedding (patchify + linear with conv1.weight [w,3,p,p]) equals a stride-p convolution", async () => {
    const { patchify } = await import("../../src/model/model.js");
    const { linear } = await import("../../src/model/ops/index.js");
    const imgs = tf.randomNormal([2, 16, 16, 3], 0, 1, "float32", 3) as tf.Tensor4D;
    const w = tf.randomNormal([5, 3, 8, 8], 0, 1, "float32", 4);
    const mine = linear(patchify(imgs, 8), tf.reshape(w, [5, 3 * 64]));
    // tf.conv2d wants [kh, kw, in, out]
    const conv = tf.conv2d(imgs, tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D, 8, "valid");
    expect(closeness(mine.dataSync(), tf.reshape(conv, [2, 4, 5]).dataSync(), 1e-4, 1e-4)).toBeLessThan(1);
  });

  it("avg pooling (open_clip layout) averages the patch tokens", () => {
    const base = small("micro");
    const tok = createModel(base, { seed: 1 });
    const avg = createModel({ ...base, vision: { ...base.vision, pool: "avg" } }, { seed: 1 });
    const imgs = tf.randomNormal([2, 16, 16, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    const a = avg.encodeImage(imgs).dataSync(), b = tok.encodeImage(imgs).dataSync();
    expect(a.length).toBe(2 * base.embedDim);
    expect(closeness(a, b, 1e-3, 1e-3)).toBeGreaterThan(1);
    [tok, avg].forEach(disposeModel);
  });

  it("CLIP pools at the argmax (EOT) token and the causal mask hides later tokens", () => {
    const c = small("micro");
    const m = createModel(c, { seed: 5 });
    const ctx = c.text.contextLength;
    const eot = [3, 9, 15];
    const full = tokens(3, ctx, 64, 2, eot);
    const f = m.encodeText(full).arraySync();
    // Changing every token after the EOT changes nothing.
    const after = tf.tensor2d(full.arraySync().map((row, i) => row.map((v, j) => (j > eot[i]! ? 7 : v))), [3, ctx], "int32");
    const fa = m.encodeText(after).arraySync();
    // The features equal those of the sequence cut right after its EOT (own forward pass, shorter T).
    for (let i = 0; i < 3; i++) {
      for (let k = 0; k < c.embedDim; k++) expect(fa[i]![k]).toBeCloseTo(f[i]![k]!, 4);
      const cut = tf.tensor2d([full.arraySync()[i]!.slice(0, eot[i]! + 1)], [1, eot[i]! + 1], "int32");
      const fc = m.encodeText(cut).arraySync()[0]!;
      for (let k = 0; k < c.embedDim; k++) expect(fc[k]).toBeCloseTo(f[i]![k]!, 4);
    }
    // Changing a token before the EOT does change the features.
    const before = tf.tensor2d(full.arraySync().map((row) => row.map((v, j) => (j === 1 ? 9 : v))), [3, ctx], "int32");
    const fb = m.encodeText(before).arraySync();
    expect(Math.abs(fb[1]![0]! - f[1]![0]!) + Math.abs(fb[1]![1]! - f[1]![1]!)).toBeGreaterThan(1e-4);
    disposeModel(m);
  });

  it("SigLIP text (no mask, last-token pooling) sees every token", () => {
    const c = small("micro-siglip");
    const m = createModel(c, { seed: 5 });
    const t = tokens(1, c.text.contextLength, 64, 3);
    const a = m.encodeText(t).dataSync();
    const changed = tf.tensor2d([t.arraySync()[0]!.map((v, j) => (j === 0 ? (v % 60) + 2 : v))], t.shape, "int32");
    const b = m.encodeText(changed).dataSync();
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-4);
    disposeModel(m);
  });
});

describe("training", () => {
  it("a micro model with clipLoss and Adam fits 8 fixed pairs far below ln 8", () => {
    const c = small("micro");
    const m = createModel(c, { seed: 11 });
    const imgs = tf.randomNormal([8, c.vision.imageSize, c.vision.imageSize, 3], 0, 1, "float32", 9) as tf.Tensor4D;
    const toks = tokens(8, c.text.contextLength, 64, 4, [2, 5, 7, 9, 11, 13, 14, 15]);
    const opt = tf.train.adam(3e-3);
    const vars = [...m.params.values()];
    const lossFn = () => tf.tidy(() => clipLoss(l2normalize(m.encodeImage(imgs)), l2normalize(m.encodeText(toks)), logitScaleFromParam(m.params.get("logit_scale")!)));
    const first = lossFn().dataSync()[0]!;
    for (let s = 0; s < 25; s++) opt.minimize(lossFn, false, vars);
    const last = lossFn().dataSync()[0]!;
    expect(first).toBeGreaterThan(0.5 * Math.log(8));
    expect(last).toBeLessThan(0.05 * Math.log(8));
    // modelLoss is the same objective
    expect(modelLoss(m, imgs, toks).dataSync()[0]).toBeCloseTo(last, 5);
    disposeModel(m);
  });
});
