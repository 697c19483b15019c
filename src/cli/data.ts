// `clipts data ...`: ingest real formats into Arrow shards, verify shards.
// The CLI stays thin: each subcommand calls one library function, imported
// when the command runs (Arrow, sharp and the rest load in ~0.3 s).
import type { Argv, CommandModule } from "yargs";
import { INGEST_FORMATS, type IngestFormat } from "../formats/input/common.js";
import { InputError } from "../util/errors.js";
import { shardFromOptions } from "../util/job-array.js";

interface IngestArgs {
  input: string[];
  output: string;
  format: IngestFormat;
  "rows-per-shard": number;
  "batch-rows": number;
  "key-column"?: string;
  "image-column"?: string;
  "caption-column"?: string;
  "label-column"?: string;
  "lang-column"?: string;
  delimiter?: string;
  "max-pixels": number;
  "max-image-bytes"?: number;
  decode: boolean;
  concurrency: number;
  shard?: string;
  "shard-count"?: number;
  quiet: boolean;
}

const ingestCommand: CommandModule<object, IngestArgs> = {
  command: "ingest",
  describe: "Ingest webdataset tars, class folders or JSONL/CSV/parquet tables into Arrow IPC shards",
  builder: (y: Argv) =>
    y
      .option("input", { alias: "i", type: "string", array: true, demandOption: true, describe: "Input: .tar or folder of .tar, class folder, .jsonl/.csv/.tsv/.parquet table (repeatable)" })
      .option("output", { alias: "o", type: "string", demandOption: true, describe: "Output folder for shards and manifest.json" })
      .option("format", { choices: INGEST_FORMATS, default: "auto" as IngestFormat, describe: "Input format" })
      .option("rows-per-shard", { type: "number", default: 1000, describe: "Rows in each shard (the last holds the rest)" })
      .option("batch-rows", { type: "number", default: 64, describe: "Rows per Arrow record batch inside a shard" })
      .option("key-column", { type: "string", describe: "Table column with the sample key (default: key, id, uid; else file:row)" })
      .option("image-column", { type: "string", describe: "Table column with the image path (relative to the table's folder) or bytes" })
      .option("caption-column", { type: "string", describe: "Table column with the caption (default: caption, text, title, alt)" })
      .option("label-column", { type: "string", describe: "Table column with an integer class label (default: label)" })
      .option("lang-column", { type: "string", describe: "Table column with the caption language (default: lang, language)" })
      .option("delimiter", { type: "string", describe: "CSV delimiter (default , or tab for .tsv)" })
      .option("max-pixels", { type: "number", default: 89_478_485, describe: "Skip images with more pixels (decompression bombs)" })
      .option("max-image-bytes", { type: "number", describe: "Skip images longer than this (default 256 MiB, at most 1 GiB)" })
      .option("decode", { type: "boolean", default: true, describe: "Decode every image to catch truncated/corrupt files" })
      .option("concurrency", { type: "number", default: 4, describe: "Images checked at once" })
      .option("shard", { type: "string", describe: "job-array task i/n (0-based): ingest input files i, i+n, ... into OUTPUT-i-of-n (or OUTPUT with {shard} replaced); join the parts with `data merge-shards`" })
      .option("shard-count", { type: "number", describe: "n tasks; index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX" })
      .option("quiet", { type: "boolean", default: false, describe: "No progress bar" }) as unknown as Argv<IngestArgs>,
  handler: async (a) => {
    const { ingest } = await import("../data/ingest.js");
    const { manifest, output } = await ingest({
      input: a.input,
      output: a.output,
      format: a.format,
      rowsPerShard: a["rows-per-shard"],
      batchRows: a["batch-rows"],
      columns: { key: a["key-column"], image: a["image-column"], caption: a["caption-column"], label: a["label-column"], lang: a["lang-column"] },
      delimiter: a.delimiter,
      maxPixels: a["max-pixels"],
      maxImageBytes: a["max-image-bytes"],
      decode: a.decode,
      concurrency: a.concurrency,
      shard: shardFromOptions(a.shard, a["shard-count"]),
      quiet: a.quiet,
    });
    console.log(`wrote ${manifest.rows} rows in ${manifest.shards.length} shards to ${output}; skipped ${manifest.skipped.count}`);
    for (const [reason, n] of Object.entries(manifest.skipped.byReason).sort((x, y) => y[1] - x[1])) console.log(`  skipped ${n}: ${reason}`);
  },
};

const mergeShardsCommand: CommandModule<object, { inputs: string[]; output: string }> = {
  command: "merge-shards",
  describe: "Join the shard folders of a job array's ingest tasks into one (shards hard-linked, one manifest)",
  builder: (y: Argv) =>
    y
      .option("inputs", { type: "string", array: true, demandOption: true, describe: "the tasks' shard folders, in order" })
      .option("output", { type: "string", demandOption: true, describe: "a new folder" }) as unknown as Argv<{ inputs: string[]; output: string }>,
  handler: async (a) => {
    const { mergeShardFolders } = await import("../formats/merge-shards.js");
    const m = await mergeShardFolders(a.inputs, a.output);
    console.log(`merged ${a.inputs.length} folders: ${m.rows} rows in ${m.shards.length} shards in ${a.output}; skipped ${m.skipped.count}`);
  },
};

const verifyCommand: CommandModule<object, { dir: string }> = {
  command: "verify <dir>",
  describe: "Recompute shard hashes and row counts against manifest.json",
  builder: (y: Argv) => y.positional("dir", { type: "string", demandOption: true, describe: "Shard folder" }) as unknown as Argv<{ dir: string }>,
  handler: async (a) => {
    const { verifyShards } = await import("../formats/shards.js");
    const r = await verifyShards(a.dir);
    if (!r.ok) {
      throw new InputError(`${a.dir}: ${r.problems.length} shard problem(s): ${r.problems.map((p) => `${p.file}: ${p.problem}`).join("; ")}`);
    }
    console.log(`ok: ${r.shards} shards, ${r.rows} rows`);
  },
};

interface DemoArgs {
  output: string;
  seed: number;
  "max-concepts": number;
  "num-classes": number;
  "captions-per-image": number;
  "noise-fraction": number;
  "image-size": number;
  "eval-style": string;
  "rows-per-shard": number;
  quiet: boolean;
}

const demoCommand: CommandModule<object, DemoArgs> = {
  command: "demo",
  describe: "Build the demo dataset (emoji in several styles, multilingual captions) and ingest it into DIR/shards/{train,eval}",
  builder: (y: Argv) =>
    y
      .option("output", { alias: "o", type: "string", demandOption: true, describe: "Output folder" })
      .option("seed", { type: "number", default: 0 })
      .option("max-concepts", { type: "number", default: 600, describe: "Emoji concepts drawn" })
      .option("num-classes", { type: "number", default: 100, describe: "Zero-shot classes in the eval split" })
      .option("captions-per-image", { type: "number", default: 2 })
      .option("noise-fraction", { type: "number", default: 0.08, describe: "Share of web-like noise captions" })
      .option("image-size", { type: "number", default: 64 })
      .option("eval-style", { choices: ["noto", "twemoji", "openmoji", "fluent"], default: "fluent", describe: "Style held out for evaluation" })
      .option("rows-per-shard", { type: "number", default: 1000 })
      .option("quiet", { type: "boolean", default: false }) as unknown as Argv<DemoArgs>,
  handler: async (a) => {
    const { buildDemoShards } = await import("../data/demo-shards.js");
    const r = await buildDemoShards({
      output: a.output,
      seed: a.seed,
      maxConcepts: a["max-concepts"],
      numClasses: a["num-classes"],
      captionsPerImage: a["captions-per-image"],
      noiseFraction: a["noise-fraction"],
      imageSize: a["image-size"],
      evalStyle: a["eval-style"],
      rowsPerShard: a["rows-per-shard"],
      quiet: a.quiet,
    });
    console.log(`demo: ${r.summary.train} train pairs, ${r.summary.eval} eval rows, ${r.summary.classes} classes; shards in ${r.train} and ${r.eval}`);
  },
};

const convertSelectionCommand: CommandModule<object, { input: string; output: string }> = {
  command: "convert-selection",
  describe: "Convert an old single-file selection.json ({shard file: row ids}) into a selection folder",
  builder: (y: Argv) =>
    y
      .option("input", { type: "string", demandOption: true, describe: "old selection.json" })
      .option("output", { type: "string", demandOption: true, describe: "selection folder to write (index.json + one row list per shard)" }) as unknown as Argv<{ input: string; output: string }>,
  handler: async (a) => {
    const { convertSelection } = await import("../formats/selection.js");
    const sel = await convertSelection(a.input, a.output);
    console.log(`wrote ${sel.total()} rows of ${sel.shards().length} shards to ${a.output}`);
  },
};

const mergeSelectionsCommand: CommandModule<object, { inputs: string[]; output: string }> = {
  command: "merge-selections",
  describe: "Join the selection folders of job-array tasks (e.g. `curate balance --shard i/n`) into one",
  builder: (y: Argv) =>
    y
      .option("inputs", { type: "string", array: true, demandOption: true, describe: "selection folders" })
      .option("output", { type: "string", demandOption: true, describe: "selection folder to write" }) as unknown as Argv<{ inputs: string[]; output: string }>,
  handler: async (a) => {
    const { mergeSelections } = await import("../formats/selection.js");
    const sel = await mergeSelections(a.inputs, a.output);
    console.log(`wrote ${sel.total()} rows of ${sel.shards().length} shards to ${a.output}`);
  },
};

export const dataCommand: CommandModule = {
  command: "data",
  describe: "Ingest image-text data into Arrow shards; verify shards; build the demo dataset",
  builder: (y) => {
    return y.command(ingestCommand).command(mergeShardsCommand).command(verifyCommand).command(demoCommand).command(convertSelectionCommand).command(mergeSelectionsCommand).demandCommand(1, "Name a data subcommand (see --help).");
  },
  handler: () => {},
};
