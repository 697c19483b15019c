// The training config: a YAML file validated against a strict zod schema, so a
// misspelled key or a wrong type fails before any work starts, with the key
// path in the message (`train.lr: expected number, got string`).
import { readFileBoundedSync } from "../util/bounded-read.js";
import { parse as parseYaml, parseDocument } from "yaml";
import { z } from "zod";
import { InputError } from "../util/errors.js";
import { resolveModelConfig as resolveModel } from "../model/overrides.js";
import type { ModelConfig } from "../model/types.js";

const positiveInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();

// Inline model dimensions override the named architecture field by field.
const visionSchema = z.strictObject({
  image_size: positiveInt.optional(),
  patch_size: positiveInt.optional(),
  width: positiveInt.optional(),
  layers: positiveInt.optional(),
  heads: positiveInt.optional(),
  mlp_ratio: z.number().positive().optional(),
  pool: z.enum(["tok", "avg", "map"]).optional(),
  layout: z.enum(["open_clip", "timm"]).optional(),
  ln_eps: z.number().positive().optional(),
});

const textSchema = z.strictObject({
  vocab_size: positiveInt.optional(),
  context_length: positiveInt.optional(),
  width: positiveInt.optional(),
  layers: positiveInt.optional(),
  heads: positiveInt.optional(),
  mlp_ratio: z.number().positive().optional(),
  causal: z.boolean().optional(),
  pool: z.enum(["eot", "last"]).optional(),
  pad_id: nonNegInt.optional(),
  custom_text: z.boolean().optional(),
  proj_bias: z.boolean().optional(),
  ln_eps: z.number().positive().optional(),
});

const modelSchema = z.strictObject({
  /** A named architecture of the model stage (e.g. "ViT-B-16", "tiny"); inline fields override it. */
  name: z.string().min(1),
  embed_dim: positiveInt.optional(),
  vision: visionSchema.optional(),
  text: textSchema.optional(),
  act: z.enum(["gelu", "quick_gelu"]).optional(),
  loss: z.enum(["clip", "siglip"]).optional(),
  init_logit_scale: z.number().optional(),
  init_logit_bias: z.number().optional(),
  /**
   * Initial weights for fine-tuning: a clipts checkpoint or safetensors file, a
   * PyTorch state-dict archive (open_clip_pytorch_model.bin), an open_clip model
   * folder or `hf-hub:ORG/NAME` (src/model/weights-file.ts). Names and shapes
   * must match the architecture above. Ignored when resuming (the checkpoint wins).
   */
  pretrained: z.string().min(1).optional(),
});

const balanceSchema = z.strictObject({
  /** Curation's matches JSONL ({key, entries} per line). */
  matches: z.string().min(1),
  /** Curation's global entry counts (JSON array). */
  counts: z.string().min(1),
  /** MetaCLIP threshold t (20000 for MetaCLIP 400M). */
  threshold: z.number().positive(),
  seed: z.number().int().default(0),
});

const upsampleSchema = z.strictObject({
  /** Folder of <shard>.lang.jsonl sidecars (`clipts curate langid`). */
  langs: z.string().min(1),
  /** Target share per language ({sw: 0.01, ...}) or "webli" (bn, fil, hi, iw, mi, sw, te at 1% each). */
  targets: z.union([z.literal("webli"), z.record(z.string().min(1), z.number().positive().max(1))]),
  seed: z.number().int().default(0),
  min_confidence: z.number().min(0).max(1).default(0),
});

const dataSchema = z.strictObject({
  /** Shard directory (a manifest.json with Arrow shards), or webdataset tars read in place (formats/webdataset.ts). */
  train: z.string().min(1),
  /** Optional selection: a selection folder (src/formats/selection.ts), an old JSON {shard file: row ids} map, a JSON array of keys, or one key per line. */
  selection: z.string().min(1).nullable().default(null),
  /** Global batch size (samples per optimizer step, over all micro-batches). */
  batch_size: positiveInt,
  /** Decode worker threads (0 = decode on the main thread). */
  workers: nonNegInt.max(256).default(2),
  /** Check each shard's sha256 against the manifest when the loader opens it (off: a little faster on fast storage). */
  verify_hashes: z.boolean().default(true),
  image_size: positiveInt.optional(),
  mean: z.tuple([z.number(), z.number(), z.number()]).default([0.48145466, 0.4578275, 0.40821073]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).default([
    0.26862954, 0.26130258, 0.27577711,
  ]),
  /** "clip" (the shipped CLIP BPE) or the path of a Hugging Face tokenizer.json. */
  tokenizer: z.string().min(1).default("clip"),
  /** Sample with replacement (open_clip --dataset-resampled) instead of epoch passes. */
  resampled: z.boolean().default(false),
  seed: z.number().int().default(0),
  /**
   * Rows held in the loader's shuffle buffer (row order within the shard
   * sequence); absent = the loader's default. 0 reads rows in stream order,
   * so a data-parallel run's global batches hold exactly a 1-process run's rows.
   */
  shuffle_buffer: nonNegInt.optional(),
  /** MetaCLIP online balancing: a new balanced subset every epoch; null = train on all rows. */
  balance: balanceSchema.nullable().default(null),
  /** Low-resource language upsampling through the loader's per-epoch row copies; null = off. */
  upsample: upsampleSchema.nullable().default(null),
});

const trainSchema = z
  .strictObject({
    /** Total samples seen; steps = ceil(samples / batch_size). Give this or `steps`. */
    samples: z.number().positive().optional(),
    steps: positiveInt.optional(),
    /** LiT: keep the image tower (every `visual.` parameter) frozen; usually with model.pretrained. */
    lock_image: z.boolean().default(false),
    lr: z.number().positive(),
    warmup: nonNegInt.default(0),
    schedule: z.enum(["cosine", "const", "const-cooldown"]).default("cosine"),
    cooldown_steps: nonNegInt.default(0),
    cooldown_power: z.number().positive().default(1),
    cooldown_end_lr: z.number().nonnegative().default(0),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.98),
    eps: z.number().positive().default(1e-6),
    weight_decay: z.number().nonnegative().default(0.2),
    /** Clip gradients to this global L2 norm; null = no clipping. */
    grad_clip_norm: z.number().positive().nullable().default(null),
    /** Micro-batches per step; the contrastive matrix always spans the whole batch. */
    accum_freq: positiveInt.default(1),
    /** fp32, or bf16 autocast on the torch backend (bf16 matmul/conv/attention outputs, float32 weights, norms and losses, as torch.autocast). */
    precision: z.enum(["fp32", "bf16"]).default("fp32"),
    /** Recompute each transformer block's activations in the backward: less activation memory for one more forward of the towers. */
    grad_checkpointing: z.boolean().default(false),
    /** SigLIP: compute the loss over blocks of this many texts ([B, chunk] logits live at a time, forward and backward); null = one [B, B] matrix (in a data-parallel run: blocks of one rank's rows). */
    siglip_chunk: positiveInt.nullable().default(null),
    /** Data-parallel runs: 1 = ZeRO stage 1 (AdamW moments split over the ranks, updated weights all-gathered); 0 = every rank keeps all. */
    zero_stage: z.union([z.literal(0), z.literal(1)]).default(0),
    seed: z.number().int().default(0),
    backend: z.enum(["auto", "cpu", "wasm", "torch", "tensorflow"]).default("auto"),
    /** Device of the torch backend: "cpu" or "cuda:N"; null = the backend's default (cpu). Data-parallel runs on CUDA use cuda:LOCAL_RANK per rank. */
    device: z.string().regex(/^(cpu|cuda:\d+)$/, 'expected "cpu" or "cuda:N"').nullable().default(null),
  })
  .refine((t) => (t.samples === undefined) !== (t.steps === undefined), {
    message: "give exactly one of train.samples or train.steps",
  });

const checkpointSchema = z.strictObject({
  dir: z.string().min(1),
  /** Save every N steps (0 = only at the end). */
  every: nonNegInt.default(1000),
  /** Keep the newest N checkpoints (0 = keep all). */
  keep: nonNegInt.default(3),
  /**
   * Divergence guard: refuse to save weights whose global norm grew more than this factor since the last checked
   * checkpoint (or the run's start); null = off. Healthy runs grow the norm a few times over a whole training run;
   * an exploded update (lr 1e30: weights of 1e29) grows it by orders of magnitude.
   */
  max_weight_norm_growth: z.number().gt(1).nullable().default(100),
});

const logSchema = z.strictObject({
  every: positiveInt.default(10),
  /** TensorBoard event-file folder; null = none. */
  tensorboard: z.string().min(1).nullable().default(null),
  /** JSONL scalar log; null = `<checkpoint.dir>/log.jsonl`. */
  jsonl: z.string().min(1).nullable().default(null),
});

const evalSchema = z.strictObject({
  /** Call the run's evaluator every N steps (0 = never); the evaluator comes from the eval stage (RunOptions.evaluate). */
  every: nonNegInt.default(0),
  /** Eval suite YAML (configs/eval/) run every `every` steps by `clipts train`; results logged under eval/. */
  suite: z.string().min(1).nullable().default(null),
});

export const trainConfigSchema = z.strictObject({
  model: modelSchema,
  data: dataSchema,
  train: trainSchema,
  checkpoint: checkpointSchema,
  log: logSchema.default({ every: 10, tensorboard: null, jsonl: null }),
  eval: evalSchema.default({ every: 0, suite: null }),
});

export type TrainConfig = z.infer<typeof trainConfigSchema>;
export type TrainSection = TrainConfig["train"];

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** One line per problem, each starting with the dotted key path. */
export function formatConfigIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.map((issue) => {
    const at = issue.path.map(String).join(".") || "(root)";
    switch (issue.code) {
      case "unrecognized_keys":
        return issue.keys.map((k) => `${at === "(root)" ? k : `${at}.${k}`}: unknown key`).join("\n");
      case "invalid_type": {
        const got = valueAt(input, issue.path);
        return got === undefined ? `${at}: required (${issue.expected})` : `${at}: expected ${issue.expected}, got ${typeName(got)}`;
      }
      default:
        return `${at}: ${issue.message}`;
    }
  });
}

/** Validate a plain object; throws InputError naming every bad key path. */
export function validateConfig(raw: unknown, source = "config"): TrainConfig {
  const r = trainConfigSchema.safeParse(raw);
  if (!r.success) {
    throw new InputError(`${source}: invalid config\n  ${formatConfigIssues(r.error, raw).join("\n  ")}`);
  }
  const cfg = r.data;
  const ctx = cfg.model.vision?.image_size;
  if (ctx !== undefined && cfg.data.image_size !== undefined && ctx !== cfg.data.image_size) {
    throw new InputError(`${source}: data.image_size (${cfg.data.image_size}) differs from model.vision.image_size (${ctx})`);
  }
  if (cfg.data.batch_size % cfg.train.accum_freq !== 0) {
    throw new InputError(
      `${source}: data.batch_size (${cfg.data.batch_size}) must be divisible by train.accum_freq (${cfg.train.accum_freq})`,
    );
  }
  if (cfg.train.schedule === "const-cooldown" && cfg.train.cooldown_steps <= 0) {
    throw new InputError(`${source}: train.cooldown_steps must be > 0 for schedule const-cooldown`);
  }
  return cfg;
}

/**
 * Apply `key.path=value` overrides; values are parsed as YAML scalars
 * (`1e-3` -> number, `true` -> boolean, `[1,2]` -> array, `null`).
 * Only keys the schema knows may be set, so a typo fails here too.
 */
export function applyOverrides(raw: Record<string, unknown>, overrides: string[]): Record<string, unknown> {
  for (const ov of overrides) {
    const eq = ov.indexOf("=");
    if (eq <= 0) throw new InputError(`--set ${ov}: expected key.path=value`);
    const key = ov.slice(0, eq).trim();
    const parts = key.split(".");
    if (parts.some((p) => p === "")) throw new InputError(`--set ${ov}: bad key path "${key}"`);
    let value: unknown;
    try {
      value = parseYaml(ov.slice(eq + 1));
    } catch (err) {
      throw new InputError(`--set ${key}: cannot parse value: ${(err as Error).message}`);
    }
    let obj: Record<string, unknown> = raw;
    for (const p of parts.slice(0, -1)) {
      const next = obj[p];
      if (next === undefined || next === null) obj[p] = {};
      else if (typeof next !== "object" || Array.isArray(next)) {
        throw new InputError(`--set ${key}: ${p} is not a section`);
      }
      obj = obj[p] as Record<string, unknown>;
    }
    obj[parts[parts.length - 1]!] = value;
  }
  return raw;
}

/** A config is a few KB; a bigger "config" is the wrong file (or a device). */
const MAX_CONFIG_BYTES = 16 * 2 ** 20;

/** Read a YAML config file, apply overrides, validate. */
export function loadConfig(file: string, overrides: string[] = []): TrainConfig {
  let text: string;
  try {
    text = readFileBoundedSync(file, MAX_CONFIG_BYTES, "config").toString("utf8");
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${file}: cannot read config: ${(err as Error).message}`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new InputError(`${file}: YAML error: ${doc.errors[0]!.message}`);
  const raw = doc.toJS() as unknown;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new InputError(`${file}: the config must be a YAML mapping`);
  }
  applyOverrides(raw as Record<string, unknown>, overrides);
  return validateConfig(raw, file);
}

/** Optimizer steps of a run. */
export function totalSteps(cfg: TrainConfig): number {
  return cfg.train.steps ?? Math.ceil(cfg.train.samples! / cfg.data.batch_size);
}

/** The config's model (named architecture + inline overrides), validated against the data section. */
export function resolveModelConfig(cfg: TrainConfig): ModelConfig {
  const mc = resolveModel(cfg.model);
  if (cfg.data.image_size !== undefined && cfg.data.image_size !== mc.vision.imageSize) {
    throw new InputError(`config: data.image_size (${cfg.data.image_size}) differs from the model's image size (${mc.vision.imageSize})`);
  }
  return mc;
}
