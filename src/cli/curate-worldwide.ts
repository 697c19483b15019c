// `clipts curate langid | worldwide | upsample`: MetaCLIP 2 worldwide curation.
// The lead registers `worldwideCommands` under `clipts curate`.
import type { Argv, CommandModule } from "yargs";
import { writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { shardFromOptions } from "../util/job-array.js";
import { demoWorldwideMetadata } from "../data/demo-worldwide.js";
import { WEBLI_TARGETS } from "../curation/worldwide/upsample.js";

const langidCommand: CommandModule = {
  command: "langid",
  describe: "Identify each caption's language (eld); write <shard>.lang.jsonl sidecars {row, key, lang, confidence}",
  builder: (y: Argv) =>
    y
      .option("input", { type: "string", demandOption: true, describe: "shard folder (manifest.json) or webdataset tars (a .tar, a folder, shards/{00000..00099}.tar, pipe:CMD, joined by ::)" })
      .option("output", { type: "string", demandOption: true, describe: "sidecar folder" })
      .option("shard", { type: "string", describe: "label shard files i/n (0-based)" })
      .option("shard-count", { type: "number", describe: "n parts; index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX" })
      .option("quiet", { type: "boolean", default: false }),
  handler: async (a) => {
    const shard = shardFromOptions(a.shard as string | undefined, a["shard-count"] as number | undefined);
    // Language ID loads its n-gram tables: imported when the command runs.
    const { langidShards } = await import("../curation/worldwide/langid.js");
    const r = await langidShards({ shards: a.input as string, output: a.output as string, shard, quiet: a.quiet as boolean });
    const top = Object.entries(r.counts).sort((x, y) => y[1] - x[1]).slice(0, 10).map(([l, n]) => `${l}:${n}`).join(" ");
    console.error(`${r.stats.rows} rows of ${r.stats.shards} shards labelled (${r.stats.badRows} bad rows); ${top}; sidecars in ${a.output}`);
  },
};

const worldwideCommand: CommandModule = {
  command: "worldwide",
  describe: "Per-language matching and balancing (thresholds from English's tail share); writes the selection folder OUTPUT/selection",
  builder: (y: Argv) =>
    y
      .option("metadata", { type: "string", demandOption: true, describe: "{lang: [entries]} JSON, or a folder of <lang>.json arrays" })
      .option("input", { type: "string", demandOption: true, describe: "shard folder (manifest.json) or webdataset tars (a .tar, a folder, shards/{00000..00099}.tar, pipe:CMD, joined by ::)" })
      .option("langs", { type: "string", demandOption: true, describe: "folder of <shard>.lang.jsonl (clipts curate langid)" })
      .option("output", { type: "string", demandOption: true })
      .option("t-en", { type: "number", demandOption: true, describe: "threshold of the reference language" })
      .option("reference", { type: "string", default: "en" })
      .option("min-confidence", { type: "number", default: 0, describe: "langid confidence below this counts as und" })
      .option("seed", { type: "number", default: 0 })
      .option("shard", { type: "string", describe: "job-array part i/n (0-based), with --phase" })
      .option("shard-count", { type: "number", describe: "n parts; index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX" })
      .option("phase", { choices: ["match", "balance"], describe: "with a part: match (every part first), then balance (sums every part's counts; writes OUTPUT/selection-i-of-n)" })
      .option("quiet", { type: "boolean", default: false }),
  handler: async (a) => {
    const { worldwideCurate } = await import("../curation/worldwide/curate.js");
    const r = await worldwideCurate({
      metadata: a.metadata as string, shards: a.input as string, langs: a.langs as string, output: a.output as string,
      tEn: a["t-en"] as number, reference: a.reference as string, seed: a.seed as number,
      minConfidence: a["min-confidence"] as number, quiet: a.quiet as boolean,
      shard: shardFromOptions(a.shard as string | undefined, a["shard-count"] as number | undefined),
      phase: a.phase as "match" | "balance" | undefined,
    });
    if (!r.thresholds) {
      console.error(`part matched: ${r.files.sidecars.length} sidecars, counts in ${a.output}; balance once every part has matched`);
      return;
    }
    console.error(`tail share p=${r.thresholds.p.toFixed(4)}; t per language ${JSON.stringify(r.thresholds.t)}`);
    for (const [l, s] of Object.entries(r.perLang)) console.error(`${l}: rows ${s.rows}, matched ${s.matched}, kept ${s.kept}`);
    console.error(`selection: ${r.files.selection}${a.shard !== undefined || a["shard-count"] !== undefined ? " (join the parts with `clipts data merge-selections`)" : ""}`);
  },
};

/** Parse "bn=0.01,hi=0.01" or "webli". */
export function parseTargets(s: string): Record<string, number> {
  if (s === "webli") return { ...WEBLI_TARGETS };
  const out: Record<string, number> = {};
  for (const part of s.split(",")) {
    const m = /^\s*([A-Za-z-]+)\s*=\s*([0-9.eE-]+)\s*$/.exec(part);
    if (!m) throw new InputError(`--targets: "${part}" is not lang=share`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

const upsampleCommand: CommandModule = {
  command: "upsample",
  describe: "Raise named languages to target shares: write per-language weights and an upsampled selection",
  builder: (y: Argv) =>
    y
      .option("matches", { type: "string", demandOption: true, describe: "output folder of `curate worldwide` (selection/ + *.wmatches.jsonl)" })
      .option("targets", { type: "string", default: "webli", describe: 'lang=share,... or "webli" (bn, fil, hi, iw, mi, sw, te at 1%)' })
      .option("output", { type: "string", demandOption: true })
      .option("seed", { type: "number", default: 0 })
      .option("epoch", { type: "number", default: 0 }),
  handler: async (a) => {
    const { upsampleWorldwide } = await import("../curation/worldwide/curate.js");
    const { weights: w } = await upsampleWorldwide({
      matches: a.matches as string, targets: parseTargets(a.targets as string), output: a.output as string,
      seed: a.seed as number, epoch: a.epoch as number,
    });
    console.error(`expected rows ${w.expectedRows.toFixed(0)} of ${w.rows}; keep ${JSON.stringify(w.keep)}; wrote ${a.output}/selection`);
  },
};

const demoMetadataCommand: CommandModule = {
  command: "worldwide-demo-metadata",
  describe: "Write {lang: [entries]} metadata for the demo pool (emoji names in en, de, fr, es, ja, zh)",
  builder: (y: Argv) => y.option("output", { type: "string", demandOption: true }),
  handler: async (a) => {
    const m = demoWorldwideMetadata();
    await writeJsonAtomic(a.output as string, m);
    console.error(`wrote ${a.output}: ${Object.entries(m).map(([l, e]) => `${l}:${e.length}`).join(" ")}`);
  },
};

export const worldwideCommands: CommandModule[] = [langidCommand, worldwideCommand, upsampleCommand, demoMetadataCommand];
