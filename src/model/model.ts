// CLIP / SigLIP model on tfjs: one definition for every backend. Heavy
// pieces go through the named ops in ./ops so a backend can fuse them.
import * as tf from "@tensorflow/tfjs-core";
import "./tf-gradients.js";
import { getModelConfig, validateModelConfig } from "./configs.js";
import { initValues } from "./init.js";
import { blockNames, paramSpecs, textPrefix, visionBlockPrefix } from "./params.js";
import { attention, embedding, oneHotFloat, layerNorm, linear, gelu, quickGelu } from "./ops/index.js";
import { checkpointedBlock, mergeHeads, param, residualBlock, splitHeads, type Params } from "./transformer.js";
import type { ClipModel, ModelConfig } from "./types.js";

export interface CreateModelOptions {
  /** Seed of the initialization (default 0). */
  seed?: number;
  /** Recompute each transformer block's activations in the backward (train.grad_checkpointing). */
  gradCheckpointing?: boolean;
}

type Block = typeof residualBlock;

/** Image NHWC [B, S, S, 3] -> patch rows [B, g², 3·p·p] ordered (channel, ky, kx) like conv1.weight. */
export function patchify(images: tf.Tensor4D, patch: number): tf.Tensor3D {
  const [b, h, w, c] = images.shape;
  const gh = h / patch;
  const gw = w / patch;
  const x = tf.reshape(images, [b, gh, patch, gw, patch, c]);
  // -> [B, gh, gw, C, py, px]
  return tf.reshape(tf.transpose(x, [0, 1, 3, 5, 2, 4]), [b, gh * gw, c * patch * patch]);
}

function checkImages(c: ModelConfig, images: tf.Tensor4D): void {
  const s = c.vision.imageSize;
  if (images.rank !== 4 || images.shape[1] !== s || images.shape[2] !== s || images.shape[3] !== 3) {
    throw new Error(`model "${c.name}": images must be [B, ${s}, ${s}, 3] NHWC, got [${images.shape.join(", ")}]`);
  }
}

function encodeImageOpenClip(c: ModelConfig, p: Params, images: tf.Tensor4D, block: Block): tf.Tensor2D {
  const v = c.vision;
  const eps = v.lnEps ?? 1e-5;
  const b = images.shape[0];
  const conv = param(p, "visual.conv1.weight");
  const wFlat = tf.reshape(conv, [v.width, 3 * v.patchSize * v.patchSize]);
  const patches = linear(patchify(images, v.patchSize), wFlat);
  const cls = tf.tile(tf.reshape(param(p, "visual.class_embedding"), [1, 1, v.width]), [b, 1, 1]);
  let x = tf.add(tf.concat([cls, patches], 1), param(p, "visual.positional_embedding")) as tf.Tensor3D;
  x = layerNorm(x, param(p, "visual.ln_pre.weight"), param(p, "visual.ln_pre.bias"), eps) as tf.Tensor3D;
  for (let i = 0; i < v.layers; i++) x = block(x, p, blockNames(visionBlockPrefix(c, i), "open_clip"), v.heads, false, c.act, eps);
  x = layerNorm(x, param(p, "visual.ln_post.weight"), param(p, "visual.ln_post.bias"), eps) as tf.Tensor3D;
  const n = x.shape[1];
  const pooled = v.pool === "tok" ? tf.reshape(tf.slice(x, [0, 0, 0], [b, 1, v.width]), [b, v.width]) : tf.mean(tf.slice(x, [0, 1, 0], [b, n - 1, v.width]), 1);
  return tf.matMul(pooled, param(p, "visual.proj")) as tf.Tensor2D;
}

/** timm AttentionPoolLatent: one learned query attends over the tokens, then x + mlp(norm(x)). */
function mapPool(c: ModelConfig, p: Params, x: tf.Tensor3D): tf.Tensor2D {
  const v = c.vision;
  const eps = v.lnEps ?? 1e-5;
  const pre = "visual.trunk.attn_pool";
  const b = x.shape[0];
  const latent = tf.tile(param(p, `${pre}.latent`), [b, 1, 1]);
  const q = linear(latent, param(p, `${pre}.q.weight`), param(p, `${pre}.q.bias`));
  const kv = linear(x, param(p, `${pre}.kv.weight`), param(p, `${pre}.kv.bias`));
  const [k, val] = tf.split(kv, [v.width, v.width], 2);
  const o = attention(splitHeads(q, v.heads), splitHeads(k!, v.heads), splitHeads(val!, v.heads), false);
  let y = linear(mergeHeads(o), param(p, `${pre}.proj.weight`), param(p, `${pre}.proj.bias`));
  const h = linear(layerNorm(y, param(p, `${pre}.norm.weight`), param(p, `${pre}.norm.bias`), eps), param(p, `${pre}.mlp.fc1.weight`), param(p, `${pre}.mlp.fc1.bias`));
  y = tf.add(y, linear(c.act === "gelu" ? gelu(h) : quickGelu(h), param(p, `${pre}.mlp.fc2.weight`), param(p, `${pre}.mlp.fc2.bias`)));
  return tf.reshape(y, [b, v.width]) as tf.Tensor2D;
}

function encodeImageTimm(c: ModelConfig, p: Params, images: tf.Tensor4D, block: Block): tf.Tensor2D {
  const v = c.vision;
  const eps = v.lnEps ?? 1e-6;
  const wFlat = tf.reshape(param(p, "visual.trunk.patch_embed.proj.weight"), [v.width, 3 * v.patchSize * v.patchSize]);
  const patches = linear(patchify(images, v.patchSize), wFlat, param(p, "visual.trunk.patch_embed.proj.bias"));
  let x = tf.add(patches, param(p, "visual.trunk.pos_embed")) as tf.Tensor3D;
  for (let i = 0; i < v.layers; i++) x = block(x, p, blockNames(visionBlockPrefix(c, i), "timm"), v.heads, false, c.act, eps);
  x = layerNorm(x, param(p, "visual.trunk.norm.weight"), param(p, "visual.trunk.norm.bias"), eps) as tf.Tensor3D;
  return v.pool === "map" ? mapPool(c, p, x) : (tf.mean(x, 1) as tf.Tensor2D);
}

function encodeText(c: ModelConfig, p: Params, tokens: tf.Tensor2D, block: Block): tf.Tensor2D {
  const t = c.text;
  const pre = textPrefix(c);
  const eps = t.lnEps ?? 1e-5;
  const [b, len] = tokens.shape;
  if (tokens.rank !== 2 || len > t.contextLength || len < 1) {
    throw new Error(`model "${c.name}": tokens must be [B, T] with 1 ≤ T ≤ ${t.contextLength}, got [${tokens.shape.join(", ")}]`);
  }
  const ids = tokens.dtype === "int32" ? tokens : tf.cast(tokens, "int32");
  const emb = embedding(param(p, `${pre}token_embedding.weight`) as tf.Tensor2D, ids);
  const pos = tf.slice(param(p, `${pre}positional_embedding`), [0, 0], [len, t.width]);
  let x = tf.add(emb, pos) as tf.Tensor3D;
  for (let i = 0; i < t.layers; i++) x = block(x, p, blockNames(`${pre}transformer.resblocks.${i}`, "open_clip"), t.heads, t.causal, c.act, eps);
  x = layerNorm(x, param(p, `${pre}ln_final.weight`), param(p, `${pre}ln_final.bias`), eps) as tf.Tensor3D;
  let pooled: tf.Tensor2D;
  if (t.pool === "eot") {
    // CLIP's end-of-text token has the largest id; select its row with a
    // one-hot weighted sum (differentiable without a gather gradient).
    const sel = oneHotFloat(tf.argMax(ids, 1), len);
    pooled = tf.sum(tf.mul(x, tf.expandDims(sel, 2)), 1) as tf.Tensor2D;
  } else {
    pooled = tf.reshape(tf.slice(x, [0, len - 1, 0], [b, 1, t.width]), [b, t.width]);
  }
  if (t.projBias) return linear(pooled, param(p, `${pre}text_projection.weight`), param(p, `${pre}text_projection.bias`)) as tf.Tensor2D;
  return tf.matMul(pooled, param(p, `${pre}text_projection`)) as tf.Tensor2D;
}

/**
 * Build a model with open_clip's parameter names, shapes and initialization.
 * `config` is a ModelConfig or the name of one in `modelConfigs`.
 */
export function createModel(config: ModelConfig | string, options: CreateModelOptions = {}): ClipModel {
  const c = typeof config === "string" ? getModelConfig(config) : structuredClone(config);
  validateModelConfig(c);
  const seed = options.seed ?? 0;
  const params: Params = new Map();
  for (const s of paramSpecs(c)) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const values = tf.tensor(initValues(s.init, size, seed, s.name), s.shape, "float32");
    params.set(s.name, tf.variable(values, true));
    values.dispose();
  }
  const timm = (c.vision.layout ?? "open_clip") === "timm";
  const block: Block = options.gradCheckpointing ? checkpointedBlock : residualBlock;
  return {
    config: c,
    params,
    encodeImage: (images) => {
      checkImages(c, images);
      return tf.tidy(() => (timm ? encodeImageTimm(c, params, images, block) : encodeImageOpenClip(c, params, images, block)));
    },
    encodeText: (tokens) => tf.tidy(() => encodeText(c, params, tokens, block)),
  };
}

/** Dispose every parameter of a model. */
export function disposeModel(model: ClipModel): void {
  for (const v of model.params.values()) v.dispose();
}
