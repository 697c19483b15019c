// `clipts curate ...`: MetaCLIP metadata, matching, count merging and balancing.
// Each subcommand parses arguments and calls one library function. Modules
// that are slow to load (shards, DFN's model, language ID) are imported by
// the handler that needs them, so `curate match` starts in ~0.1 s.
import os from "node:os";
import type { Argv, CommandModule } from "yargs";
import { writeJsonAtomic } from "../util/atomic.js";
import { buildMetadata, METADATA_THRESHOLDS } from "../curation/metaclip/metadata.js";
import { parseShard, shardFromOptions } from "../util/job-array.js";
import { matchInput } from "../curation/metaclip/match.js";
import { mergeCountFiles } from "../curation/metaclip/counts.js";
import { balanceFile } from "../curation/metaclip/balance-file.js";
import { worldwideCommands } from "./curate-worldwide.js";
import { dfnCommands } from "./curate-dfn.js";

const list = { type: "string" as const, array: true as const };

const metadataCommand: CommandModule = {
  command: "metadata",
  describe: "Build a MetaCLIP metadata.json (JSON array of entries) from WordNet, word lists and counted lists",
  builder: (y: Argv) =>
    y
      .option("wordnet", { ...list, describe: "WordNet data.* files or a folder with data.{noun,verb,adj,adv} (e.g. /usr/share/wordnet)" })
      .option("wordlist", { ...list, describe: "Plain word list, one entry per line" })
      .option("unigrams", { ...list, describe: `TSV term<TAB>count; kept when count >= --unigram-min (${METADATA_THRESHOLDS.unigram})` })
      .option("bigrams", { ...list, describe: `TSV "w1 w2"<TAB>PMI; kept when PMI >= --bigram-min (${METADATA_THRESHOLDS.bigram})` })
      .option("titles", { ...list, describe: `TSV title<TAB>views; kept when views >= --title-min (${METADATA_THRESHOLDS.title})` })
      .option("unigram-min", { type: "number", default: METADATA_THRESHOLDS.unigram })
      .option("bigram-min", { type: "number", default: METADATA_THRESHOLDS.bigram })
      .option("title-min", { type: "number", default: METADATA_THRESHOLDS.title })
      .option("numbers", { type: "boolean", default: true, describe: 'Add "0".."99" as MetaCLIP does' })
      .option("output", { type: "string", demandOption: true, describe: "metadata.json to write" }),
  handler: async (a) => {
    const r = await buildMetadata({
      wordnet: a.wordnet as string[] | undefined,
      wordlists: a.wordlist as string[] | undefined,
      unigrams: a.unigrams as string[] | undefined,
      bigrams: a.bigrams as string[] | undefined,
      titles: a.titles as string[] | undefined,
      thresholds: { unigram: a["unigram-min"] as number, bigram: a["bigram-min"] as number, title: a["title-min"] as number },
      numbers: a.numbers as boolean,
    });
    await writeJsonAtomic(a.output as string, r.entries);
    for (const s of r.sources) {
      console.error(`${s.source}${s.file ? ` ${s.file}` : ""}: read ${s.read}, added ${s.added}, bad lines ${s.badLines}, below threshold ${s.belowThreshold}`);
    }
    console.error(`wrote ${r.entries.length} entries to ${a.output}`);
  },
};

const matchCommand: CommandModule = {
  command: "match",
  describe: "Match JSONL {key, text} (or a shard folder's captions) against the metadata; write matches plus counts",
  builder: (y: Argv) =>
    y
      .option("metadata", { type: "string", demandOption: true, describe: "metadata.json (JSON array of strings)" })
      .option("input", { type: "string", demandOption: true, describe: "JSONL with {\"key\": string, \"text\": string}, a shard folder (manifest.json), or webdataset tars (a .tar, a folder, shards/{00000..00099}.tar, pipe:CMD, joined by ::)" })
      .option("output", { type: "string", demandOption: true, describe: "matches JSONL ({shard} is replaced by the shard index); for a shard folder: the sidecar folder" })
      .option("workers", { type: "number", describe: "worker threads (default: number of cores)" })
      .option("shard", { type: "string", describe: "process part i/n of the input (0-based; a JSONL file by byte range, a shard folder by shard i, i+n, ...)" })
      .option("shard-count", { type: "number", describe: "n shards; index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX" })
      .option("quiet", { type: "boolean", default: false }),
  handler: async (a) => {
    const shard = shardFromOptions(a.shard as string | undefined, a["shard-count"] as number | undefined);
    const run = await matchInput({
      metadata: a.metadata as string, input: a.input as string, output: a.output as string,
      workers: (a.workers as number | undefined) ?? os.availableParallelism(), shard, quiet: a.quiet as boolean,
    });
    if (run.kind === "shards") {
      const s = run.result.stats;
      console.error(`${s.rows} rows of ${s.shards} shards matched (${s.matched} with a match, ${s.badRows} bad rows); sidecars and counts in ${a.output}`);
      if (s.cutShort.length > 0) {
        console.error(`warning: ${s.cutShort.length} shard(s) cut short, ${s.cutRows} row(s) unreadable and not matched: ${s.cutShort.join(", ")}`);
      }
      return;
    }
    const r = run.result;
    const s = r.stats;
    console.error(
      `${s.written} lines written to ${r.output} (${s.matched} matched, ${s.lines - s.written} without key skipped, ` +
        `${s.badText + s.invalidUtf8} bad captions) in ${s.seconds.toFixed(1)} s; counts ${r.countsFile}, stats ${r.statsFile}`,
    );
  },
};

const mergeCommand: CommandModule = {
  command: "merge-counts",
  describe: "Sum per-shard entry count files into global counts",
  builder: (y: Argv) =>
    y.option("inputs", { ...list, demandOption: true, describe: "count files from `curate match`" }).option("output", { type: "string", demandOption: true }),
  handler: async (a) => {
    const merged = await mergeCountFiles(a.inputs as string[], a.output as string);
    console.error(`summed ${(a.inputs as string[]).length} files (${merged.length} entries) into ${a.output}`);
  },
};

const balanceCommand: CommandModule = {
  command: "balance",
  describe: "Keep texts by MetaCLIP balancing (p = t / max(count, t)); write kept keys, counts, data card, plot",
  builder: (y: Argv) =>
    y
      .option("metadata", { type: "string", demandOption: true })
      .option("matches", { type: "string", demandOption: true, describe: "JSONL {key, entries} from `curate match`, or its sidecar folder for shards (writes the selection folder OUTPUT/selection for the loader)" })
      .option("shard", { type: "string", describe: "with a sidecar folder: balance sidecars i, i+n, ... (i/n, 0-based); use --counts with the merged global counts" })
      .option("t", { type: "number", demandOption: true, describe: "head/tail threshold (MetaCLIP 400M: 20000)" })
      .option("seed", { type: "number", default: 0 })
      .option("output", { type: "string", demandOption: true, describe: "output folder" })
      .option("counts", { type: "string", describe: "global counts from merge-counts (default: count this file)" })
      .option("tail-share", { type: "number", array: true, describe: "tail shares to report t for (p_to_t)" })
      .option("quiet", { type: "boolean", default: false }),
  handler: async (a) => {
    const r = await balanceFile({
      metadata: a.metadata as string, matches: a.matches as string, shard: a.shard !== undefined ? parseShard(a.shard as string) : undefined,
      t: a.t as number, seed: a.seed as number,
      output: a.output as string, counts: a.counts as string | undefined, tailShares: a["tail-share"] as number[] | undefined,
      quiet: a.quiet as boolean,
    });
    console.error(`kept ${r.text.kept} of ${r.text.texts} texts (${r.text.matched} matched); data card ${r.files.datacard}${r.files.selection ? `; selection ${r.files.selection}` : ""}`);
  },
};

export const curateCommand: CommandModule = {
  command: "curate",
  describe: "Curate a raw pool: MetaCLIP metadata, matching and balancing; language ID and worldwide curation; DFN filtering",
  builder: (y) =>
    y
      .command(metadataCommand)
      .command(matchCommand)
      .command(mergeCommand)
      .command(balanceCommand)
      .command(worldwideCommands)
      .command(dfnCommands)
      .demandCommand(1, "Name a curate subcommand (see --help)."),
  handler: () => {},
};
