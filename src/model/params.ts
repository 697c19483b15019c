// The parameter table of a config: open_clip state-dict names, PyTorch shapes
// and how open_clip initializes each tensor. Shapes, counts, initialization
// and the forward pass all read names from here, so they cannot drift apart.
import type { ModelConfig } from "./types.js";

export type InitSpec =
  | { kind: "normal"; std: number }
  | { kind: "uniform"; bound: number }
  | { kind: "const"; value: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: InitSpec;
}

/** Names of one pre-LN residual block's tensors. */
export interface BlockNames {
  ln1: [string, string];
  qkvW: string;
  qkvB: string;
  outW: string;
  outB: string;
  ln2: [string, string];
  fcW: string;
  fcB: string;
  projW: string;
  projB: string;
}

/** open_clip ResidualAttentionBlock (nn.MultiheadAttention) or timm Block naming. */
export function blockNames(prefix: string, layout: "open_clip" | "timm"): BlockNames {
  if (layout === "timm") {
    return {
      ln1: [`${prefix}.norm1.weight`, `${prefix}.norm1.bias`],
      qkvW: `${prefix}.attn.qkv.weight`, qkvB: `${prefix}.attn.qkv.bias`,
      outW: `${prefix}.attn.proj.weight`, outB: `${prefix}.attn.proj.bias`,
      ln2: [`${prefix}.norm2.weight`, `${prefix}.norm2.bias`],
      fcW: `${prefix}.mlp.fc1.weight`, fcB: `${prefix}.mlp.fc1.bias`,
      projW: `${prefix}.mlp.fc2.weight`, projB: `${prefix}.mlp.fc2.bias`,
    };
  }
  return {
    ln1: [`${prefix}.ln_1.weight`, `${prefix}.ln_1.bias`],
    qkvW: `${prefix}.attn.in_proj_weight`, qkvB: `${prefix}.attn.in_proj_bias`,
    outW: `${prefix}.attn.out_proj.weight`, outB: `${prefix}.attn.out_proj.bias`,
    ln2: [`${prefix}.ln_2.weight`, `${prefix}.ln_2.bias`],
    fcW: `${prefix}.mlp.c_fc.weight`, fcB: `${prefix}.mlp.c_fc.bias`,
    projW: `${prefix}.mlp.c_proj.weight`, projB: `${prefix}.mlp.c_proj.bias`,
  };
}

/** Prefix of block `i` of the vision tower. */
export function visionBlockPrefix(c: ModelConfig, i: number): string {
  return (c.vision.layout ?? "open_clip") === "timm" ? `visual.trunk.blocks.${i}` : `visual.transformer.resblocks.${i}`;
}

/** Prefix ("" or "text.") of the text tower's keys. */
export function textPrefix(c: ModelConfig): string {
  return c.text.customText ? "text." : "";
}

export function mlpHidden(width: number, ratio: number): number {
  return Math.floor(width * ratio);
}

const ONES: InitSpec = { kind: "const", value: 1 };
const ZEROS: InitSpec = { kind: "const", value: 0 };
const normal = (std: number): InitSpec => ({ kind: "normal", std });
/** PyTorch's default Linear/Conv init (kaiming_uniform a=√5): U(±1/√fan_in) for weight and bias. */
const torchDefault = (fanIn: number): InitSpec => ({ kind: "uniform", bound: 1 / Math.sqrt(fanIn) });

interface BlockInit {
  qkvW: InitSpec; qkvB: InitSpec; outW: InitSpec; outB: InitSpec;
  fcW: InitSpec; fcB: InitSpec; projW: InitSpec; projB: InitSpec;
}

function pushBlock(out: ParamSpec[], n: BlockNames, width: number, hidden: number, init: BlockInit): void {
  out.push(
    { name: n.ln1[0], shape: [width], init: ONES },
    { name: n.ln1[1], shape: [width], init: ZEROS },
    { name: n.qkvW, shape: [3 * width, width], init: init.qkvW },
    { name: n.qkvB, shape: [3 * width], init: init.qkvB },
    { name: n.outW, shape: [width, width], init: init.outW },
    { name: n.outB, shape: [width], init: init.outB },
    { name: n.ln2[0], shape: [width], init: ONES },
    { name: n.ln2[1], shape: [width], init: ZEROS },
    { name: n.fcW, shape: [hidden, width], init: init.fcW },
    { name: n.fcB, shape: [hidden], init: init.fcB },
    { name: n.projW, shape: [width, hidden], init: init.projW },
    { name: n.projB, shape: [width], init: init.projB },
  );
}

/** nn.MultiheadAttention + nn.Linear defaults (open_clip's vision tower keeps these). */
function torchBlockInit(width: number, hidden: number): BlockInit {
  return {
    qkvW: { kind: "uniform", bound: Math.sqrt(6 / (width + 3 * width)) }, // xavier_uniform
    qkvB: ZEROS,
    outW: torchDefault(width),
    outB: ZEROS,
    fcW: torchDefault(width), fcB: torchDefault(width),
    projW: torchDefault(hidden), projB: torchDefault(hidden),
  };
}

/** timm init_weights_vit_timm: Linear weights trunc_normal(0.02) (±2 bounds never bind), biases zero. */
function timmBlockInit(): BlockInit {
  const w = normal(0.02);
  return { qkvW: w, qkvB: ZEROS, outW: w, outB: ZEROS, fcW: w, fcB: ZEROS, projW: w, projB: ZEROS };
}

function visionSpecs(c: ModelConfig, out: ParamSpec[]): void {
  const v = c.vision;
  const grid = v.imageSize / v.patchSize;
  const hidden = mlpHidden(v.width, v.mlpRatio);
  const patchFanIn = 3 * v.patchSize * v.patchSize;
  if ((v.layout ?? "open_clip") === "timm") {
    out.push(
      { name: "visual.trunk.pos_embed", shape: [1, grid * grid, v.width], init: normal(0.02) },
      { name: "visual.trunk.patch_embed.proj.weight", shape: [v.width, 3, v.patchSize, v.patchSize], init: torchDefault(patchFanIn) },
      { name: "visual.trunk.patch_embed.proj.bias", shape: [v.width], init: torchDefault(patchFanIn) },
    );
    for (let i = 0; i < v.layers; i++) pushBlock(out, blockNames(visionBlockPrefix(c, i), "timm"), v.width, hidden, timmBlockInit());
    out.push({ name: "visual.trunk.norm.weight", shape: [v.width], init: ONES }, { name: "visual.trunk.norm.bias", shape: [v.width], init: ZEROS });
    if (v.pool === "map") {
      const p = "visual.trunk.attn_pool";
      const w = normal(0.02);
      out.push(
        { name: `${p}.latent`, shape: [1, 1, v.width], init: normal(v.width ** -0.5) },
        { name: `${p}.q.weight`, shape: [v.width, v.width], init: w },
        { name: `${p}.q.bias`, shape: [v.width], init: ZEROS },
        { name: `${p}.kv.weight`, shape: [2 * v.width, v.width], init: w },
        { name: `${p}.kv.bias`, shape: [2 * v.width], init: ZEROS },
        { name: `${p}.proj.weight`, shape: [v.width, v.width], init: w },
        { name: `${p}.proj.bias`, shape: [v.width], init: ZEROS },
        { name: `${p}.norm.weight`, shape: [v.width], init: ONES },
        { name: `${p}.norm.bias`, shape: [v.width], init: ZEROS },
        { name: `${p}.mlp.fc1.weight`, shape: [hidden, v.width], init: w },
        { name: `${p}.mlp.fc1.bias`, shape: [hidden], init: ZEROS },
        { name: `${p}.mlp.fc2.weight`, shape: [v.width, hidden], init: w },
        { name: `${p}.mlp.fc2.bias`, shape: [v.width], init: ZEROS },
      );
    }
    return;
  }
  // open_clip VisionTransformer: scale = width^-0.5 for class/pos embeddings and proj;
  // its init_parameters() is a no-op, so conv1 and the blocks keep PyTorch defaults.
  const scale = v.width ** -0.5;
  out.push(
    { name: "visual.class_embedding", shape: [v.width], init: normal(scale) },
    { name: "visual.positional_embedding", shape: [grid * grid + 1, v.width], init: normal(scale) },
    { name: "visual.proj", shape: [v.width, c.embedDim], init: normal(scale) },
    { name: "visual.conv1.weight", shape: [v.width, 3, v.patchSize, v.patchSize], init: torchDefault(patchFanIn) },
    { name: "visual.ln_pre.weight", shape: [v.width], init: ONES },
    { name: "visual.ln_pre.bias", shape: [v.width], init: ZEROS },
  );
  for (let i = 0; i < v.layers; i++) pushBlock(out, blockNames(visionBlockPrefix(c, i), "open_clip"), v.width, hidden, torchBlockInit(v.width, hidden));
  out.push({ name: "visual.ln_post.weight", shape: [v.width], init: ONES }, { name: "visual.ln_post.bias", shape: [v.width], init: ZEROS });
}

function textSpecs(c: ModelConfig, out: ParamSpec[]): void {
  const t = c.text;
  const p = textPrefix(c);
  const hidden = mlpHidden(t.width, t.mlpRatio);
  // open_clip TextTransformer.init_parameters: weights re-drawn, biases keep torch defaults.
  const attnStd = t.width ** -0.5;
  const projStd = t.width ** -0.5 * (2 * t.layers) ** -0.5;
  const fcStd = (2 * t.width) ** -0.5;
  const base = torchBlockInit(t.width, hidden);
  const init: BlockInit = { ...base, qkvW: normal(attnStd), outW: normal(projStd), fcW: normal(fcStd), projW: normal(projStd) };
  out.push(
    { name: `${p}token_embedding.weight`, shape: [t.vocabSize, t.width], init: normal(0.02) },
    { name: `${p}positional_embedding`, shape: [t.contextLength, t.width], init: normal(0.01) },
  );
  for (let i = 0; i < t.layers; i++) pushBlock(out, blockNames(`${p}transformer.resblocks.${i}`, "open_clip"), t.width, hidden, init);
  out.push({ name: `${p}ln_final.weight`, shape: [t.width], init: ONES }, { name: `${p}ln_final.bias`, shape: [t.width], init: ZEROS });
  if (t.projBias) {
    out.push(
      { name: `${p}text_projection.weight`, shape: [c.embedDim, t.width], init: normal(t.width ** -0.5) },
      { name: `${p}text_projection.bias`, shape: [c.embedDim], init: ZEROS },
    );
  } else {
    out.push({ name: `${p}text_projection`, shape: [t.width, c.embedDim], init: normal(t.width ** -0.5) });
  }
}

/** Every parameter of `config` in state-dict order of open_clip's towers. */
export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const out: ParamSpec[] = [];
  visionSpecs(c, out);
  textSpecs(c, out);
  out.push({ name: "logit_scale", shape: [], init: { kind: "const", value: c.initLogitScale } });
  if (c.initLogitBias !== undefined) out.push({ name: "logit_bias", shape: [], init: { kind: "const", value: c.initLogitBias } });
  return out;
}

/** Parameter names and shapes, without allocating anything. */
export function paramShapes(c: ModelConfig): Map<string, number[]> {
  return new Map(paramSpecs(c).map((s) => [s.name, s.shape]));
}

/** Total number of scalar parameters. */
export function countParams(c: ModelConfig): number {
  let n = 0;
  for (const s of paramSpecs(c)) n += s.shape.reduce((a, b) => a * b, 1);
  return n;
}
