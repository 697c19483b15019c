// Named model configurations. The large ones carry open_clip's dimensions
// (src/open_clip/model_configs/*.json); `tiny` and `micro` are small enough
// for CPU training and unit tests.
//
// Parameter counts (countParams, checked in test/model/model.test.ts):
//   ViT-B-32 151,277,313 · ViT-B-16 149,620,737 · ViT-L-14 427,616,513 ·
//   ViT-L-14-336 427,944,193 · ViT-H-14 986,109,441 · ViT-bigG-14 2,539,567,105
//   · ViT-SO400M-14-SigLIP 877,360,306
//   (open_clip 3.3's create_model on the meta device, summing parameter numels)
//   ViT-B-16-SigLIP 203,155,970 · ViT-B-16-SigLIP-256 203,202,050 ·
//   ViT-L-16-SigLIP-256 652,150,786 — computed from open_clip's configs (timm
//   trunk + CustomTextCLIP); open_clip's docs/model_profile.csv lists 203.16M,
//   203.20M and 652.15M. Forward GFLOPs match the same table to 0.01.
//   tiny 13,151,233 · micro 1,640,961 (most of both is the 49,408-row token embedding).
import { InputError } from "../util/errors.js";
import type { ModelConfig, TextConfig, VisionConfig } from "./types.js";

const CLIP_LOGIT_SCALE = Math.log(1 / 0.07);
const SIGLIP_LOGIT_SCALE = Math.log(10);
const SIGLIP_LOGIT_BIAS = -10;
/** CLIP's BPE vocabulary (open_clip SimpleTokenizer), used by the small configs too. */
const CLIP_VOCAB = 49408;

function clipText(width: number, heads: number, layers: number, contextLength = 77): TextConfig {
  return { vocabSize: CLIP_VOCAB, contextLength, width, layers, heads, mlpRatio: 4, causal: true, pool: "eot", padId: 0 };
}

function vit(imageSize: number, patchSize: number, width: number, layers: number, heads: number): VisionConfig {
  return { imageSize, patchSize, width, layers, heads, mlpRatio: 4, pool: "tok" };
}

/** open_clip CLIP config (ViT tower, causal text tower with EOT pooling). */
function clip(name: string, embedDim: number, vision: VisionConfig, text: TextConfig, act: ModelConfig["act"] = "gelu"): ModelConfig {
  return { name, embedDim, vision, text, act, loss: "clip", initLogitScale: CLIP_LOGIT_SCALE };
}

/**
 * open_clip SigLIP config: timm ViT trunk with MAP pooling and no projection,
 * CustomTextCLIP text tower without causal mask, last-token pooling, biased
 * text projection, LayerNorm eps 1e-6.
 */
function siglip(name: string, embedDim: number, imageSize: number, patchSize: number, layers: number, heads: number, vocabSize = 32000, contextLength = 64): ModelConfig {
  const width = embedDim;
  return {
    name,
    embedDim,
    vision: { imageSize, patchSize, width, layers, heads, mlpRatio: 4, pool: "map", layout: "timm", lnEps: 1e-6 },
    text: {
      vocabSize, contextLength, width, layers, heads, mlpRatio: 4, causal: false, pool: "last", padId: 0,
      customText: true, projBias: true, lnEps: 1e-6,
    },
    act: "gelu",
    loss: "siglip",
    initLogitScale: SIGLIP_LOGIT_SCALE,
    initLogitBias: SIGLIP_LOGIT_BIAS,
  };
}

function withMlpRatio(c: ModelConfig, mlpRatio: number): ModelConfig {
  return { ...c, vision: { ...c.vision, mlpRatio }, text: { ...c.text, mlpRatio } };
}

const list: ModelConfig[] = [
  clip("ViT-B-32", 512, vit(224, 32, 768, 12, 12), clipText(512, 8, 12)),
  clip("ViT-B-32-quickgelu", 512, vit(224, 32, 768, 12, 12), clipText(512, 8, 12), "quick_gelu"),
  clip("ViT-B-16", 512, vit(224, 16, 768, 12, 12), clipText(512, 8, 12)),
  clip("ViT-L-14", 768, vit(224, 14, 1024, 24, 16), clipText(768, 12, 12)),
  clip("ViT-L-14-336", 768, vit(336, 14, 1024, 24, 16), clipText(768, 12, 12)),
  // head_width 80 (open_clip's ViT-H-14.json): 1280 / 80 = 16 heads.
  clip("ViT-H-14", 1024, vit(224, 14, 1280, 32, 16), clipText(1024, 16, 24)),
  // head_width 104 (1664 / 104 = 16 heads), mlp_ratio 4.9231: an 8192-wide MLP (ViT-bigG-14.json).
  clip("ViT-bigG-14", 1280, { ...vit(224, 14, 1664, 48, 16), mlpRatio: 4.9231 }, clipText(1280, 20, 32)),
  siglip("ViT-B-16-SigLIP", 768, 224, 16, 12, 12),
  siglip("ViT-B-16-SigLIP-256", 768, 256, 16, 12, 12),
  siglip("ViT-L-16-SigLIP-256", 1024, 256, 16, 24, 16),
  // SoViT-400m: mlp_ratio 3.7362 (a 4304-wide MLP) in both towers, 16-token context.
  withMlpRatio(siglip("ViT-SO400M-14-SigLIP", 1152, 224, 14, 27, 16, 32000, 16), 3.7362),
  // Small CPU configs. They use CLIP's BPE vocabulary so the real tokenizer fits.
  clip("tiny", 128, vit(64, 8, 192, 4, 3), clipText(192, 3, 4, 32)),
  clip("micro", 32, vit(16, 8, 32, 2, 2), clipText(32, 2, 2, 16)),
  siglip("tiny-siglip", 192, 64, 8, 4, 3, CLIP_VOCAB, 32),
  siglip("micro-siglip", 32, 16, 8, 2, 2, CLIP_VOCAB, 16),
];

/** All named configurations by name. */
export const modelConfigs: Readonly<Record<string, ModelConfig>> = Object.freeze(Object.fromEntries(list.map((c) => [c.name, c])));

/** A deep copy of a named config; unknown names fail with the list of known ones. */
export function getModelConfig(name: string): ModelConfig {
  const c = modelConfigs[name];
  if (!c) throw new InputError(`model: unknown model config "${name}" (known: ${Object.keys(modelConfigs).join(", ")})`);
  return structuredClone(c);
}

/** Check a config's internal consistency; throws InputError naming the key. */
export function validateModelConfig(c: ModelConfig): void {
  const bad = (key: string, why: string): never => {
    throw new InputError(`model config "${c.name}": ${key} ${why}`);
  };
  const v = c.vision;
  const t = c.text;
  for (const [k, x] of Object.entries({ embedDim: c.embedDim, "vision.imageSize": v.imageSize, "vision.patchSize": v.patchSize, "vision.width": v.width, "vision.layers": v.layers, "vision.heads": v.heads, "text.vocabSize": t.vocabSize, "text.contextLength": t.contextLength, "text.width": t.width, "text.layers": t.layers, "text.heads": t.heads })) {
    if (!Number.isInteger(x) || x <= 0) bad(k, `must be a positive integer (got ${x})`);
  }
  if (v.imageSize % v.patchSize !== 0) bad("vision.patchSize", `must divide vision.imageSize ${v.imageSize}`);
  if (v.width % v.heads !== 0) bad("vision.heads", `must divide vision.width ${v.width}`);
  if (t.width % t.heads !== 0) bad("text.heads", `must divide text.width ${t.width}`);
  if (!(v.mlpRatio > 0)) bad("vision.mlpRatio", "must be > 0");
  if (!(t.mlpRatio > 0)) bad("text.mlpRatio", "must be > 0");
  const layout = v.layout ?? "open_clip";
  if (layout === "open_clip" && v.pool === "map") bad("vision.pool", `"map" needs vision.layout "timm" (open_clip's SigLIP towers)`);
  if (layout === "timm" && v.pool === "tok") bad("vision.pool", `"tok" is not supported with vision.layout "timm" (no class token)`);
  if (layout === "timm" && c.embedDim !== v.width) bad("embedDim", `must equal vision.width with vision.layout "timm" (no projection)`);
  if (t.pool === "eot" && !t.causal) bad("text.pool", `"eot" is CLIP's pooling and expects text.causal true`);
  if (t.projBias && !t.customText) bad("text.projBias", "needs text.customText (open_clip CustomTextCLIP layout)");
  if (c.loss === "siglip" && c.initLogitBias === undefined) bad("initLogitBias", "is required for the siglip loss");
}
