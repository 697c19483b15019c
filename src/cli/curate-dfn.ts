// `clipts curate score | filter | select-rows`: DFN-style filtering. The lead
// registers `dfnCommands` under `clipts curate`. Each command calls one
// library function (src/curation/dfn/).
import type { Argv, CommandModule } from "yargs";
import { BACKEND_NAMES, type BackendName } from "../backend/names.js";
import { InputError } from "../util/errors.js";

// DFN's model code loads tfjs: imported when a command runs, not at start-up.
const dfn = () => import("../curation/dfn/index.js");

const scoreCommand: CommandModule = {
  command: "score",
  describe: "DFN: embed every pair of a shard folder with a CLIP filter network; write per-shard cos(image, text) sidecars and a summary (resumable)",
  builder: (y: Argv) =>
    y
      .option("checkpoint", { type: "string", demandOption: true, describe: "filter network: clipts checkpoint (file or run folder) or open_clip-layout safetensors (with --model)" })
      .option("input", { type: "string", demandOption: true, describe: "shard folder (manifest.json) or webdataset tars (a .tar, a folder, shards/{00000..00099}.tar, pipe:CMD, joined by ::)" })
      .option("output", { type: "string", demandOption: true, describe: "folder for <shard>.scores.jsonl sidecars, scores_summary.json, scores_histogram.svg" })
      .option("model", { type: "string", describe: "architecture name for safetensors without clipts metadata (e.g. ViT-B-32)" })
      .option("tokenizer", { type: "string", describe: '"clip" or a tokenizer.json (default: the checkpoint\'s)' })
      .option("batch", { type: "number", default: 64, describe: "pairs per model call" })
      .option("backend", { type: "string", default: "auto", describe: BACKEND_NAMES.join(" | ") })
      .option("workers", { type: "number", default: 1, describe: "image decode worker threads" })
      .option("quiet", { type: "boolean", default: false }),
  handler: async (a) => {
    if (!BACKEND_NAMES.includes(a.backend as BackendName)) throw new InputError(`--backend ${a.backend}: expected one of ${BACKEND_NAMES.join(", ")}`);
    const { scoreShards } = await dfn();
    const r = await scoreShards({
      checkpoint: a.checkpoint as string, input: a.input as string, output: a.output as string,
      model: a.model as string | undefined, tokenizer: a.tokenizer as string | undefined,
      batchSize: a.batch as number, backend: a.backend as BackendName | "auto", workers: a.workers as number, quiet: a.quiet as boolean,
    });
    const st = r.stats ? `; score min ${r.stats.min.toFixed(4)} median ${r.stats.quantiles.p50!.toFixed(4)} max ${r.stats.max.toFixed(4)}` : "";
    console.error(
      `${r.scored} of ${r.rows} pairs scored (${r.skipped.count} skipped: ${JSON.stringify(r.skipped.byReason)}); ` +
        `${r.scoredNow.length} shard(s) scored now, ${r.resumed.length} already done${st}; summary ${a.output}/scores_summary.json`,
    );
  },
};

const filterCommand: CommandModule = {
  command: "filter",
  describe: "DFN: keep the top fraction (or score >= threshold) of scored pairs; write the selection folder, kept.jsonl, data card, histogram",
  builder: (y: Argv) =>
    y
      .option("scores", { type: "string", demandOption: true, describe: "folder written by `curate score`" })
      .option("keep-top", { type: "number", describe: "fraction of the scored pool to keep, e.g. 0.3 (exactly round(f*N) pairs; ties by shard, row)" })
      .option("threshold", { type: "number", describe: "keep pairs with score >= this" })
      .option("output", { type: "string", demandOption: true }),
  handler: async (a) => {
    const { filterScores } = await dfn();
    const r = await filterScores({ scores: a.scores as string, keepTop: a["keep-top"] as number | undefined, threshold: a.threshold as number | undefined, output: a.output as string });
    console.error(`kept ${r.kept} of ${r.pool} scored pairs (lowest kept score ${r.threshold ?? "-"}); selection ${r.files.selection}, data card ${r.files.datacard}`);
  },
};

const selectRowsCommand: CommandModule = {
  command: "select-rows",
  describe: "Select rows of a shard folder by column values (e.g. a trusted subset to train a DFN filter: --where lang=en --where kind!=noise)",
  builder: (y: Argv) =>
    y
      .option("input", { type: "string", demandOption: true, describe: "shard folder or webdataset tars" })
      .option("where", { type: "string", array: true, demandOption: true, describe: "COLUMN=V1[,V2] or COLUMN!=V1[,V2]; all must hold" })
      .option("output", { type: "string", demandOption: true, describe: "folder for the selection folder (OUTPUT/selection) and hq_stats.json" })
      .option("quiet", { type: "boolean", default: false }),
  handler: async (a) => {
    const { selectRows } = await dfn();
    const r = await selectRows({ input: a.input as string, where: a.where as string[], output: a.output as string, quiet: a.quiet as boolean });
    console.error(`selected ${r.kept} of ${r.rows} rows; ${r.file}`);
  },
};

export const dfnCommands: CommandModule[] = [scoreCommand, filterCommand, selectRowsCommand];
