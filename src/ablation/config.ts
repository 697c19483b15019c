// The ablation config: one pool, a list of data variants (each a curation step
// producing a selection over the pool), ONE block of model + hyperparameters
// shared by every variant, a list of seeds and one eval suite. Data changes,
// nothing else does. Validated with zod before any work starts; every error
// names its key path (`variants[2].t: required ...`).
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { formatConfigIssues, trainConfigSchema } from "../train/config.js";
import { InputError } from "../util/errors.js";

const positiveInt = z.number().int().positive();

const replicateSchema = z.strictObject({
  /** Zipf exponent s: the concept of rank r (in a seeded order) gets copies ∝ r^-s. */
  zipf: z.number().positive(),
  /** Copies of the head concept's rows (rank 1); rank r gets max(1, round(max_copies * r^-s)). */
  max_copies: positiveInt,
  seed: z.number().int().nonnegative().default(0),
});

const demoSchema = z.strictObject({
  /** Folder of the demo dataset; built there (JSONL, PNGs, shards) when DIR/shards/train is missing. */
  dir: z.string().min(1),
  max_concepts: positiveInt.optional(),
  num_classes: positiveInt.optional(),
  captions_per_image: positiveInt.optional(),
  image_size: positiveInt.optional(),
  seed: z.number().int().nonnegative().optional(),
  /** Write DIR/zeroshot/<label>/<key>.png from the eval split (for a zero-shot image-folder task). */
  zeroshot_folder: z.boolean().default(true),
});

const poolSchema = z
  .strictObject({
    /** An existing shard folder (manifest.json + Arrow shards) used as the raw pool. */
    shards: z.string().min(1).optional(),
    /** Or: build (if needed) the demo dataset and use its train split. */
    demo: demoSchema.optional(),
    /** Replicate concepts' rows with Zipf-like copy counts (demo pools only: needs the demo's concept per row). */
    replicate: replicateSchema.optional(),
  })
  .refine((p) => (p.shards === undefined) !== (p.demo === undefined), { message: "give exactly one of pool.shards or pool.demo", path: ["shards"] })
  .refine((p) => p.replicate === undefined || p.demo !== undefined, { message: "pool.replicate needs pool.demo (rows need a concept)", path: ["replicate"] });

const metadataSchema = z
  .strictObject({
    /** A metadata file (JSON array of strings, or one entry per line). */
    file: z.string().min(1).optional(),
    /** Or: build it from the demo's emoji names (English) plus these generic words. */
    demo: z.strictObject({ generic: z.array(z.string().min(1)).default([]) }).optional(),
  })
  .refine((m) => (m.file === undefined) !== (m.demo === undefined), { message: "give exactly one of metadata.file or metadata.demo", path: ["file"] });

const variantSchema = z.discriminatedUnion("curation", [
  z.strictObject({ name: z.string().min(1), curation: z.literal("none") }),
  z.strictObject({ name: z.string().min(1), curation: z.literal("match") }),
  z.strictObject({
    name: z.string().min(1),
    curation: z.literal("balance"),
    /** MetaCLIP's per-entry threshold t. */
    t: z.number().positive(),
    /** Seed of the balancing draws (default 0; the same for every training seed). */
    seed: z.number().int().nonnegative().default(0),
  }),
  z.strictObject({
    name: z.string().min(1),
    curation: z.literal("selection"),
    /** A curated selection over the pool: a selection folder, an old JSON {shard file: row ids}, a JSON array of keys, or one key per line (DFN, language upsampling, ...). */
    file: z.string().min(1),
  }),
]);

const trainShape = trainConfigSchema.shape;

/** The shared model/hyperparameter block: the trainer's schema without the per-run fields (data source, checkpoint, logs). */
const runSchema = z.strictObject({
  model: trainShape.model,
  // The pool, the selection and the data seed are set per variant and seed.
  data: trainShape.data.omit({ train: true, selection: true, seed: true }),
  train: trainShape.train,
  log: z.strictObject({ every: positiveInt.default(10) }).default({ every: 10 }),
});

const evalSchema = z
  .strictObject({
    /** An eval suite file (configs/eval format). */
    suite: z.string().min(1).optional(),
    /** Or an inline suite: the same fields as a suite file. Relative paths resolve against the working directory. */
    inline: z.record(z.string(), z.unknown()).optional(),
    /** Decode workers of the eval decoder. */
    workers: z.number().int().nonnegative().default(1),
  })
  .refine((e) => (e.suite === undefined) !== (e.inline === undefined), { message: "give exactly one of eval.suite or eval.inline", path: ["suite"] });

export const ablationConfigSchema = z.strictObject({
  name: z.string().min(1).regex(/^[A-Za-z0-9._-]+$/, "use letters, digits, '.', '_' or '-'"),
  /** Free text shown at the top of the table and the HTML report (what the pool is, how it was made). */
  description: z.string().optional(),
  /** Output folder (default runs/ablations/<name>); relative paths resolve against the working directory. */
  output: z.string().min(1).optional(),
  pool: poolSchema,
  metadata: metadataSchema.optional(),
  variants: z.array(variantSchema).min(1),
  /** Every variant trains once per seed (model init and data order). */
  seeds: z.array(z.number().int().nonnegative()).min(1),
  /** Keep each run's final checkpoint (weights + AdamW moments); by default it is deleted once evaluated. */
  keep_checkpoints: z.boolean().default(false),
  run: runSchema,
  eval: evalSchema,
});

export type AblationConfig = z.infer<typeof ablationConfigSchema> & { file?: string };
export type VariantSpec = AblationConfig["variants"][number];

/** Validate a plain object; every bad key path is named. Cross-field checks follow the schema. */
export function validateAblationConfig(raw: unknown, source = "ablation config"): AblationConfig {
  const r = ablationConfigSchema.safeParse(raw);
  if (!r.success) throw new InputError(`${source}: invalid ablation config\n  ${formatConfigIssues(r.error, raw).join("\n  ")}`);
  const cfg: AblationConfig = r.data;
  const rawTrain = (raw as { run?: { train?: Record<string, unknown> } }).run?.train;
  if (rawTrain && rawTrain.seed !== undefined) throw new InputError(`${source}: run.train.seed: not allowed; list the seeds under seeds`);
  const names = new Set<string>();
  cfg.variants.forEach((v, i) => {
    if (names.has(v.name)) throw new InputError(`${source}: variants[${i}].name: duplicate variant name ${JSON.stringify(v.name)}`);
    if (!/^[A-Za-z0-9._=-]+$/.test(v.name)) throw new InputError(`${source}: variants[${i}].name: use letters, digits, '.', '_', '=' or '-' (it names a folder)`);
    names.add(v.name);
    if ((v.curation === "match" || v.curation === "balance") && !cfg.metadata) {
      throw new InputError(`${source}: metadata: required by variants[${i}] (curation ${v.curation})`);
    }
  });
  if (new Set(cfg.seeds).size !== cfg.seeds.length) throw new InputError(`${source}: seeds: duplicate seed`);
  if (cfg.metadata?.demo && !cfg.pool.demo) throw new InputError(`${source}: metadata.demo: needs pool.demo (the emoji names come from the demo dataset)`);
  if (cfg.run.data.batch_size % cfg.run.train.accum_freq !== 0) {
    throw new InputError(`${source}: run.data.batch_size (${cfg.run.data.batch_size}) must be divisible by run.train.accum_freq (${cfg.run.train.accum_freq})`);
  }
  return cfg;
}

/** Read and validate a YAML ablation config. */
export function loadAblationConfig(file: string): AblationConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new InputError(`${file}: cannot read ablation config: ${(err as Error).message}`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new InputError(`${file}: YAML error: ${doc.errors[0]!.message}`);
  const raw = doc.toJS() as unknown;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new InputError(`${file}: the ablation config must be a YAML mapping`);
  return { ...validateAblationConfig(raw, file), file };
}

/** The output folder of a config. */
export function ablationOutDir(cfg: AblationConfig): string {
  return path.resolve(cfg.output ?? path.join("runs", "ablations", cfg.name));
}
