// Contract between the model, the losses, the trainer, checkpoints and eval.
import type * as tf from "@tensorflow/tfjs-core";

export interface VisionConfig {
  imageSize: number;
  patchSize: number;
  width: number;
  layers: number;
  heads: number;
  mlpRatio: number;
  /** "tok" = class token (CLIP), "avg" = global average, "map" = attention pooling (SigLIP). */
  pool: "tok" | "avg" | "map";
  /**
   * Parameter layout. "open_clip" (default): open_clip's VisionTransformer
   * (`visual.conv1`, `visual.class_embedding`, `ln_pre`, `proj`). "timm": open_clip's
   * TimmModel trunk as used by its SigLIP configs (`visual.trunk.patch_embed.proj`
   * with bias, `visual.trunk.pos_embed`, `blocks.N.attn.qkv`, `attn_pool.*`), no class
   * token, no ln_pre and no projection (timm_proj "none": embedDim must equal width).
   */
  layout?: "open_clip" | "timm";
  /** LayerNorm epsilon (open_clip CLIP 1e-5, timm/SigLIP 1e-6). */
  lnEps?: number;
}

export interface TextConfig {
  vocabSize: number;
  contextLength: number;
  width: number;
  layers: number;
  heads: number;
  mlpRatio: number;
  /** CLIP: causal mask + pooling at the end-of-text token (argmax id). SigLIP: no mask, last token. */
  causal: boolean;
  pool: "eot" | "last";
  padId: number;
  /**
   * open_clip CustomTextCLIP layout: keys under `text.` and, with projBias,
   * `text.text_projection` is a Linear (`.weight [embed,width]`, `.bias`).
   */
  customText?: boolean;
  projBias?: boolean;
  /** LayerNorm epsilon (default 1e-5). */
  lnEps?: number;
}

export interface ModelConfig {
  name: string;
  embedDim: number;
  vision: VisionConfig;
  text: TextConfig;
  act: "gelu" | "quick_gelu";
  loss: "clip" | "siglip";
  /** Initial logit scale t' (scale = exp(t')) and bias (SigLIP). */
  initLogitScale: number;
  initLogitBias?: number;
}

/**
 * A CLIP/SigLIP model. Parameters are tf.Variables keyed by open_clip's
 * state-dict names with open_clip's (PyTorch) shapes, so checkpoints need no
 * renaming or transposing to load into open_clip.
 */
export interface ClipModel {
  config: ModelConfig;
  params: Map<string, tf.Variable>;
  /** Image features `[B, embedDim]`, not normalized. Images NHWC float32. */
  encodeImage(images: tf.Tensor4D): tf.Tensor2D;
  /** Text features `[B, embedDim]`, not normalized. Tokens int32 `[B, context]`. */
  encodeText(tokens: tf.Tensor2D): tf.Tensor2D;
}
