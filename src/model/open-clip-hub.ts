// Model folders as users download them: an open_clip hub folder (or a local
// Hugging Face cache entry named `hf-hub:ORG/NAME`) holding
// open_clip_config.json and open_clip_model.safetensors or
// open_clip_pytorch_model.bin. The config becomes a clipts ModelConfig, so
// architectures that are not built-in names load. Nothing is downloaded: a
// missing cache entry says where it was looked for.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { InputError } from "../util/errors.js";
import type { ModelConfig, VisionConfig } from "./types.js";

export interface OpenClipFolder {
  dir: string;
  /** The weights file: open_clip_model.safetensors, else open_clip_pytorch_model.bin. */
  weights: string;
  config: ModelConfig;
  /** preprocess_cfg's normalization, when the folder names one. */
  mean?: [number, number, number];
  std?: [number, number, number];
}

const CONFIG = "open_clip_config.json";
const WEIGHTS = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"];

/** Hugging Face's hub cache folder: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hfHubCache(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  return path.join(env.HF_HOME ?? path.join(os.homedir(), ".cache", "huggingface"), "hub");
}

/** Whether `ref` names an open_clip model folder: `hf-hub:ORG/NAME` or a folder holding open_clip_config.json. */
export function isOpenClipRef(ref: string): boolean {
  if (ref.startsWith("hf-hub:")) return true;
  return existsSync(path.join(ref, CONFIG)) && statSync(ref).isDirectory();
}

/** The snapshot folder of `hf-hub:ORG/NAME[@revision]` in the local cache (refs/main by default). */
export function hfHubSnapshot(ref: string, env: NodeJS.ProcessEnv = process.env): string {
  const m = /^hf-hub:([^/@\s]+)\/([^@\s]+)(?:@(\S+))?$/.exec(ref);
  if (!m) throw new InputError(`${ref}: expected hf-hub:ORG/NAME (optionally @REVISION)`);
  const repo = path.join(hfHubCache(env), `models--${m[1]}--${m[2]!.replace(/\//g, "--")}`);
  const where = `looked in ${repo} ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub); clipts does not download: fetch it with huggingface-cli download ${m[1]}/${m[2]} on a machine with network`;
  if (!existsSync(repo)) throw new InputError(`${ref}: not in the local Hugging Face cache (${where})`);
  const rev = m[3] ?? "main";
  const refFile = path.join(repo, "refs", rev);
  const commit = existsSync(refFile) ? readFileSync(refFile, "utf8").trim() : rev;
  const snap = path.join(repo, "snapshots", commit);
  if (!existsSync(snap)) {
    const have = existsSync(path.join(repo, "snapshots")) ? readdirSync(path.join(repo, "snapshots")).join(", ") || "none" : "none";
    throw new InputError(`${ref}: revision ${rev} (${commit}) has no snapshot in ${repo} (snapshots: ${have})`);
  }
  return snap;
}

/** Reads an open_clip model folder (or `hf-hub:` cache entry): its config as clipts', and its weights file. */
export function openClipFolder(ref: string, env: NodeJS.ProcessEnv = process.env): OpenClipFolder {
  const dir = ref.startsWith("hf-hub:") ? hfHubSnapshot(ref, env) : ref;
  const cfgFile = path.join(dir, CONFIG);
  if (!existsSync(cfgFile)) throw new InputError(`${ref}: no ${CONFIG} in ${dir}`);
  let json: { model_cfg?: Record<string, unknown>; preprocess_cfg?: { mean?: number[]; std?: number[] } };
  try {
    json = JSON.parse(readFileSync(cfgFile, "utf8"));
  } catch (e) {
    throw new InputError(`${cfgFile}: not valid JSON (${(e as Error).message})`);
  }
  // The hub file wraps the model config; open_clip's model_configs/*.json are the bare config.
  const modelCfg = (json.model_cfg ?? json) as Record<string, unknown>;
  const weights = WEIGHTS.map((w) => path.join(dir, w)).find((w) => existsSync(w));
  if (!weights) throw new InputError(`${ref}: neither ${WEIGHTS.join(" nor ")} in ${dir}`);
  const name = ref.startsWith("hf-hub:") ? ref : path.basename(path.resolve(dir));
  const triple = (v: unknown) => (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === "number") ? (v as [number, number, number]) : undefined);
  return {
    dir,
    weights,
    config: openClipConfig(name, modelCfg, cfgFile),
    mean: triple(json.preprocess_cfg?.mean),
    std: triple(json.preprocess_cfg?.std),
  };
}

/**
 * timm ViT trunks of open_clip's SigLIP configs, by the size word of the timm
 * name (`vit_<size>_patch<P>_siglip_<RES>`): width, depth, heads, MLP ratio.
 * No class token; pooled by attention ("map") or average ("gap" names).
 */
const TIMM_SIGLIP_TRUNKS: Record<string, { width: number; layers: number; heads: number; mlpRatio: number }> = {
  base: { width: 768, layers: 12, heads: 12, mlpRatio: 4 },
  large: { width: 1024, layers: 24, heads: 16, mlpRatio: 4 },
  so400m: { width: 1152, layers: 27, heads: 16, mlpRatio: 3.7362 },
  giantopt: { width: 1536, layers: 40, heads: 16, mlpRatio: 4 },
};

/** The vision tower of a `timm_model_name` SigLIP trunk (layout "timm"), or a refusal naming the key. */
function timmVision(v: Record<string, unknown>, where: string): VisionConfig {
  const name = String(v.timm_model_name);
  const m = /^vit_([a-z0-9]+)_patch(\d+)_siglip(_gap)?_(\d+)$/.exec(name);
  const trunk = m ? TIMM_SIGLIP_TRUNKS[m[1]!] : undefined;
  if (!m || !trunk) {
    throw new InputError(
      `${where}: vision_cfg.timm_model_name ${JSON.stringify(name)}: clipts builds timm's SigLIP ViT trunks vit_{${Object.keys(TIMM_SIGLIP_TRUNKS).join(",")}}_patchP_siglip_RES only; use a built-in model name for this architecture`,
    );
  }
  const proj = v.timm_proj ?? "none";
  if (proj !== "none") throw new InputError(`${where}: vision_cfg.timm_proj ${JSON.stringify(proj)}: only "none" (no projection after the trunk) is supported`);
  const poolKey = v.timm_pool ?? (m[3] ? "avg" : "map");
  if (poolKey !== "map" && poolKey !== "avg") throw new InputError(`${where}: vision_cfg.timm_pool ${JSON.stringify(poolKey)}: expected "map" or "avg"`);
  const size = Array.isArray(v.image_size) ? (v.image_size[0] as number) : typeof v.image_size === "number" ? v.image_size : Number(m[4]);
  return { imageSize: size, patchSize: Number(m[2]), ...trunk, pool: poolKey, layout: "timm", lnEps: 1e-6 };
}

/**
 * open_clip's model config JSON (embed_dim, vision_cfg, text_cfg,
 * quick_gelu, custom_text, init_logit_bias) as a clipts ModelConfig: open_clip's
 * VisionTransformer or a timm SigLIP ViT trunk, and open_clip's
 * TextTransformer (CLIP's causal/EOT or SigLIP's no-mask/last-token form).
 * What clipts cannot build (HF text models, other timm trunks, tanh GELU) is
 * refused naming the key rather than built differently.
 */
export function openClipConfig(name: string, cfg: Record<string, unknown>, where = name): ModelConfig {
  const v = (cfg.vision_cfg ?? {}) as Record<string, unknown>;
  const t = (cfg.text_cfg ?? {}) as Record<string, unknown>;
  if (t.hf_model_name) {
    throw new InputError(`${where}: text_cfg.hf_model_name ${JSON.stringify(t.hf_model_name)}: clipts builds open_clip's own text transformer only; use a built-in model name for this architecture`);
  }
  for (const [key, kw] of [["vision_cfg", v.act_kwargs], ["text_cfg", t.act_kwargs]] as const) {
    const approx = (kw as { approximate?: unknown } | undefined)?.approximate;
    if (approx !== undefined && approx !== "none") {
      throw new InputError(`${where}: ${key}.act_kwargs.approximate ${JSON.stringify(approx)}: clipts has the exact GELU only (SigLIP 2 towers use the tanh form)`);
    }
  }
  const textPool = t.pool_type ?? "argmax";
  if (textPool !== "argmax" && textPool !== "last") throw new InputError(`${where}: text_cfg.pool_type ${JSON.stringify(textPool)}: expected "argmax" (CLIP) or "last" (SigLIP)`);
  const textEps = (t.norm_kwargs as { eps?: unknown } | undefined)?.eps;
  const num = (o: Record<string, unknown>, key: string, def?: number): number => {
    const x = o[key] ?? def;
    if (typeof x !== "number" || !Number.isFinite(x)) throw new InputError(`${where}: ${key} must be a number, got ${JSON.stringify(o[key])}`);
    return x;
  };
  const embedDim = num(cfg, "embed_dim");
  const vWidth = num(v, "width", 768), tWidth = num(t, "width", 512);
  const imageSize = v.image_size;
  const size = Array.isArray(imageSize) ? (imageSize[0] as number) : num(v, "image_size", 224);
  const siglip = cfg.init_logit_bias !== undefined;
  return {
    name,
    embedDim,
    vision: v.timm_model_name
      ? timmVision(v, where)
      : {
          imageSize: size,
          patchSize: num(v, "patch_size", 16),
          width: vWidth,
          layers: num(v, "layers", 12),
          heads: vWidth / num(v, "head_width", 64),
          mlpRatio: num(v, "mlp_ratio", 4),
          pool: "tok",
        },
    text: {
      vocabSize: num(t, "vocab_size", 49408),
      contextLength: num(t, "context_length", 77),
      width: tWidth,
      layers: num(t, "layers", 12),
      heads: num(t, "heads", 8),
      mlpRatio: num(t, "mlp_ratio", 4),
      causal: t.no_causal_mask !== true,
      pool: textPool === "last" ? "last" : "eot",
      padId: num(t, "pad_id", 0),
      ...(cfg.custom_text === true ? { customText: true } : {}),
      ...(t.proj_bias === true ? { projBias: true } : {}),
      ...(textEps !== undefined ? { lnEps: num(t.norm_kwargs as Record<string, unknown>, "eps") } : {}),
    },
    act: cfg.quick_gelu === true ? "quick_gelu" : "gelu",
    loss: siglip ? "siglip" : "clip",
    // open_clip's defaults: log(1/0.07) for CLIP, SigLIP's log(10) with its bias (both are learned).
    initLogitScale: num(cfg, "init_logit_scale", siglip ? Math.log(10) : Math.log(1 / 0.07)),
    ...(siglip ? { initLogitBias: num(cfg, "init_logit_bias") } : {}),
  };
}
