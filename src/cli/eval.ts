import type { Argv, CommandModule } from "yargs";
import type { BackendName } from "../backend/names.js";
import type { CheckpointEvalOptions } from "../eval/run.js";

// The evaluation code loads tfjs and the model: imported when a command runs.
const run = () => import("../eval/run.js");

interface CommonArgs {
  checkpoint: string;
  model?: string;
  tokenizer?: string;
  backend: string;
  "batch-size"?: number;
  workers: number;
  "cache-dir"?: string;
  cache: boolean;
  out?: string;
  quiet: boolean;
}

function common<T>(y: Argv<T>) {
  return y
    .option("checkpoint", { type: "string", demandOption: true, describe: "Checkpoint file (.safetensors) or checkpoint folder (uses its 'latest')" })
    .option("model", { type: "string", describe: "Named architecture, for safetensors files that are not clipts checkpoints" })
    .option("tokenizer", { type: "string", describe: "'clip' or a tokenizer.json path (default: the checkpoint's)" })
    .option("backend", { type: "string", default: "auto", describe: "cpu | wasm | torch | tensorflow | auto" })
    .option("batch-size", { type: "number", describe: "Images / texts per forward pass (default 64 / 256)" })
    .option("workers", { type: "number", default: 2, describe: "Image decode worker threads" })
    .option("cache-dir", { type: "string", describe: "Zero-shot classifier cache (default $CLIPTS_CACHE_DIR or ~/.cache/clipts/zeroshot)" })
    .option("cache", { type: "boolean", default: true, describe: "Cache class-template embeddings per checkpoint (--no-cache to disable)" })
    .option("out", { type: "string", describe: "Write the results as JSON (atomically)" })
    .option("quiet", { type: "boolean", default: false, describe: "No progress bars" });
}

function commonOptions(a: CommonArgs): CheckpointEvalOptions {
  return {
    checkpoint: a.checkpoint,
    model: a.model,
    tokenizer: a.tokenizer,
    backend: a.backend as BackendName | "auto",
    batchSize: a["batch-size"],
    workers: a.workers,
    cacheDir: a.cache ? a["cache-dir"] : null,
    quiet: a.quiet,
    out: a.out,
  };
}

interface ZeroShotArgs extends CommonArgs {
  dataset: string;
  "data-dir"?: string;
  shards?: string;
  classnames?: string;
  templates?: string;
  "per-class"?: number;
}

const zeroshot: CommandModule<object, ZeroShotArgs> = {
  command: "zeroshot",
  describe: "Zero-shot classification over <data-dir>/<class>/<image> (ImageNet val by wnid, CIFAR by class name) or labelled shards",
  builder: (y) =>
    common(y)
      .option("dataset", { type: "string", demandOption: true, describe: "imagenet | cifar10 | cifar100 | any name with --classnames/--templates" })
      .option("data-dir", { type: "string", describe: "Folder of class folders, e.g. imagenet/val" })
      .option("shards", { type: "string", describe: "Or: shards ingested from class folders (labels + manifest classes)" })
      .option("classnames", { type: "string", describe: "Class names (JSON array or one per line), in label order" })
      .option("templates", { type: "string", describe: "Prompt templates with {} (JSON array or one per line)" })
      .option("per-class", { type: "number", describe: "Use only the first N images of each class" }) as never,
  handler: async (a) => {
    const { evalCheckpointZeroShot, formatZeroShot } = await run();
    const r = await evalCheckpointZeroShot({
      ...commonOptions(a),
      dataset: a.dataset,
      dataDir: a["data-dir"],
      shards: a.shards,
      classnames: a.classnames,
      templates: a.templates,
      perClass: a["per-class"],
    });
    console.log(formatZeroShot(r));
  },
};

interface RetrievalArgs extends CommonArgs {
  captions?: string;
  "image-root"?: string;
  shards?: string;
  limit?: number;
}

const retrieval: CommandModule<object, RetrievalArgs> = {
  command: "retrieval",
  describe: "Image<->text recall@1/5/10 on a captioned split (several captions per image)",
  builder: (y) =>
    common(y)
      .option("captions", { type: "string", describe: 'JSONL of {"image": path, "captions": [...]}' })
      .option("image-root", { type: "string", describe: "Folder the JSONL image paths are relative to (default: the JSONL's folder)" })
      .option("shards", { type: "string", describe: "Shard folder; rows with the same key are captions of one image" })
      .option("limit", { type: "number", describe: "Use only the first N images" }) as never,
  handler: async (a) => {
    const { evalCheckpointRetrieval, formatRetrieval } = await run();
    const r = await evalCheckpointRetrieval({ ...commonOptions(a), captions: a.captions, imageRoot: a["image-root"], shards: a.shards, limit: a.limit });
    console.log(formatRetrieval(r));
  },
};

interface SuiteArgs extends CommonArgs {
  suite: string;
}

const suite: CommandModule<object, SuiteArgs> = {
  command: "suite",
  describe: "Run a suite of tasks (configs/eval/*.yaml) and print one Markdown table with the average",
  builder: (y) => common(y).option("suite", { type: "string", demandOption: true, describe: "Suite YAML (configs/eval/NAME.yaml)" }) as never,
  handler: async (a) => {
    const { evalCheckpointSuite } = await run();
    const { markdown, out } = await evalCheckpointSuite({
      ...commonOptions(a),
      suite: a.suite,
      onTask: (t) => console.error(`clipts eval: ${t.name}: ${t.metric} ${(100 * t.value).toFixed(2)}%`),
    });
    console.log(markdown);
    console.error(`clipts eval: results written to ${out}`);
  },
};

// `clipts eval zeroshot | retrieval | suite --checkpoint C ...`
export const evalCommand: CommandModule = {
  command: "eval",
  describe: "Zero-shot classification and retrieval evaluation",
  builder: (y) => y.command(zeroshot).command(retrieval).command(suite).demandCommand(1, "Name an eval subcommand: zeroshot, retrieval or suite."),
  handler: () => {},
};
