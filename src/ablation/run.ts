// runAblation: prep (pool, metadata) -> curation per variant (a selection over
// the pool) -> for every variant x seed: train with the shared block, evaluate
// the final weights on the shared suite, write result.json atomically (the
// done marker) -> table, charts, HTML report. A finished (variant, seed) with
// the same fingerprint is skipped on re-run.
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { stringify as toYaml } from "yaml";
import { loadSuite, parseSuite, runEvalSuite, type EvalSuite } from "../eval/suite.js";
import { createModel, disposeModel } from "../model/index.js";
import { loadTokenizer, tokenizerSpec } from "../text/index.js";
import { loadWeightsInto } from "../model/weights-file.js";
import { totalSteps, validateConfig, type TrainConfig } from "../train/config.js";
import { runTraining } from "../train/run.js";
import { resolveModelConfig } from "../train/config.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { readJsonl } from "../util/jsonl.js";
import { ablationOutDir, loadAblationConfig, validateAblationConfig, type AblationConfig, type VariantSpec } from "./config.js";
import { curateVariant, matchPool, type CuratedVariant, type MatchedPool } from "./curate.js";
import { preparePool, prepareMetadata, type PreparedPool } from "./pool.js";
import { htmlReport, lossChart, metricCharts, tableCsv, tableMarkdown, tableRows, type RunRecord, type TableRow } from "./report.js";

export interface AblationOptions {
  /** Output folder (default: the config's `output`, else runs/ablations/<name>). */
  outDir?: string;
  quiet?: boolean;
  /** Told about every (variant, seed): trained now or skipped as finished. */
  onRun?: (e: { variant: string; seed: number; action: "ran" | "skipped"; record: RunRecord }) => void;
}

export interface AblationResult {
  outDir: string;
  rows: TableRow[];
  metrics: string[];
  records: RunRecord[];
  /** "variant/seed" ids trained in this call, and those skipped as already done. */
  ran: string[];
  skipped: string[];
  files: { markdown: string; csv: string; html: string; results: string; charts: string[]; loss: string | null };
}

/** The trainer config of one (variant, seed): the shared block plus pool, selection, seed and run folder. */
export function runConfig(cfg: AblationConfig, poolShards: string, selection: string | null, seed: number, runDir: string): TrainConfig {
  const r = cfg.run;
  return validateConfig(
    {
      model: r.model,
      data: { ...r.data, train: poolShards, selection, seed },
      train: { ...r.train, seed },
      checkpoint: { dir: path.join(runDir, "ckpt"), every: 0, keep: 1 },
      log: { every: r.log.every, tensorboard: null, jsonl: path.join(runDir, "log.jsonl") },
      eval: { every: 0 },
    },
    `${cfg.file ?? "ablation config"} (run block)`,
  );
}

function sha(v: unknown): string {
  return createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 16);
}

function loadEvalSuite(cfg: AblationConfig): EvalSuite {
  if (cfg.eval.suite) return loadSuite(path.resolve(cfg.eval.suite));
  // Inline suites resolve relative paths against the working directory.
  // (the pseudo file name makes errors read "<cwd>/eval.inline: tasks[0].dataDir: ...").
  return parseSuite(toYaml(cfg.eval.inline), path.join(process.cwd(), "eval.inline"));
}

async function readLossCurve(file: string): Promise<[number, number][]> {
  const out: [number, number][] = [];
  if (!existsSync(file)) return out;
  for await (const { value, error } of readJsonl(file)) {
    const v = value as { step?: unknown; loss?: unknown } | undefined;
    if (!error && v && typeof v.step === "number" && typeof v.loss === "number") out.push([v.step, v.loss]);
  }
  return out;
}

/** Train one (variant, seed) and evaluate its final weights. */
async function trainAndEval(
  cfg: AblationConfig,
  tc: TrainConfig,
  suite: EvalSuite,
  v: VariantSpec,
  seed: number,
  poolSize: number,
  fingerprint: string,
  quiet: boolean,
): Promise<RunRecord> {
  const t0 = performance.now();
  const r = await runTraining(tc, { quiet });
  if (r.status !== "done" || !r.lastCheckpoint) {
    throw new Error(`variant ${v.name} seed ${seed}: training ended with status ${r.status}${r.message ? `: ${r.message}` : ""}`);
  }
  const t1 = performance.now();
  const mc = resolveModelConfig(tc);
  const model = createModel(mc, { seed });
  let suiteResult;
  try {
    await loadWeightsInto(model.params, r.lastCheckpoint);
    // The tokenizer the variant trained with (data.tokenizer), not always CLIP's.
    const tokenizer = await loadTokenizer(tokenizerSpec(tc.data.tokenizer, mc.text.contextLength));
    const image = { mean: tc.data.mean, std: tc.data.std, workers: cfg.eval.workers };
    suiteResult = await runEvalSuite(model, tokenizer, suite, { image, quiet });
  } finally {
    disposeModel(model);
  }
  const steps = totalSteps(tc);
  return {
    variant: v.name,
    seed,
    poolSize,
    samplesSeen: steps * tc.data.batch_size,
    steps,
    status: r.status,
    finalLoss: r.losses.at(-1) ?? NaN,
    metrics: Object.fromEntries(suiteResult.tasks.map((t) => [`${t.name} ${t.metric}`, t.value])),
    average: suiteResult.average,
    scalars: suiteResult.scalars,
    trainSeconds: (t1 - t0) / 1000,
    evalSeconds: (performance.now() - t1) / 1000,
    fingerprint,
  };
}

/** Run (or resume) an ablation; returns the table rows and where everything was written. */
export async function runAblation(config: string | AblationConfig | Record<string, unknown>, opts: AblationOptions = {}): Promise<AblationResult> {
  const cfg: AblationConfig = typeof config === "string" ? loadAblationConfig(config) : { ...validateAblationConfig(config), file: (config as AblationConfig).file };
  const quiet = opts.quiet ?? false;
  const outDir = path.resolve(opts.outDir ?? ablationOutDir(cfg));
  const say = (msg: string) => {
    appendFileSync(path.join(outDir, "ablation.log"), `${new Date().toISOString()} ${msg}\n`);
    if (!quiet) console.error(`ablate: ${msg}`);
  };
  // A bad run block fails here, before the pool is built or anything trains.
  const probe = runConfig(cfg, "(pool)", null, cfg.seeds[0]!, outDir);
  resolveModelConfig(probe);
  if (cfg.eval.suite) loadSuite(path.resolve(cfg.eval.suite), { checkPaths: false });
  else parseSuite(toYaml(cfg.eval.inline), path.join(process.cwd(), "eval.inline"), { checkPaths: false });
  mkdirSync(outDir, { recursive: true });

  const pool: PreparedPool = await preparePool(cfg, outDir, quiet);
  say(`pool ${pool.shards}: ${pool.rows} rows${pool.replication ? ` (replicated from ${pool.replication.rowsBefore}; top-10 concepts hold ${(100 * pool.replication.top10Share).toFixed(1)}%)` : ""}`);
  const suite = loadEvalSuite(cfg);
  const needsMatch = cfg.variants.some((v) => v.curation === "match" || v.curation === "balance");
  let matched: MatchedPool | null = null;
  let metadataHash: string | null = null;
  if (needsMatch) {
    const meta = await prepareMetadata(cfg, pool, outDir);
    metadataHash = sha(meta.entries);
    matched = await matchPool(pool.shards, meta.file, path.join(outDir, "matches"), quiet);
    say(`metadata ${meta.file}: ${meta.entries.length} entries; ${matched.matched} of ${matched.rows} pool rows match`);
  }

  const curated = new Map<string, CuratedVariant>();
  for (const [i, v] of cfg.variants.entries()) {
    const dir = path.join(outDir, "variants", v.name);
    mkdirSync(dir, { recursive: true });
    const c = await curateVariant(v, matched, pool.rows, dir, `${cfg.file ?? "ablation config"}: variants[${i}]`);
    if (c.poolSize < cfg.run.data.batch_size) {
      throw new InputError(`variants[${i}] (${v.name}): the selection keeps ${c.poolSize} rows, fewer than run.data.batch_size ${cfg.run.data.batch_size}`);
    }
    curated.set(v.name, c);
    say(`variant ${v.name}: ${v.curation}${v.curation === "balance" ? ` t=${v.t}` : ""}, ${c.poolSize} rows`);
  }

  const records: RunRecord[] = [];
  const ran: string[] = [];
  const skipped: string[] = [];
  const curves: { variant: string; seed: number; points: [number, number][] }[] = [];
  for (const v of cfg.variants) {
    const c = curated.get(v.name)!;
    for (const seed of cfg.seeds) {
      const id = `${v.name}/seed-${seed}`;
      const runDir = path.join(outDir, "runs", v.name, `seed-${seed}`);
      const resultFile = path.join(runDir, "result.json");
      const tc = runConfig(cfg, pool.shards, c.selection, seed, runDir);
      const fingerprint = sha({ run: cfg.run, variant: v, pool: cfg.pool, poolRows: pool.rows, metadataHash, eval: suite.tasks, seed, poolSize: c.poolSize });
      let record: RunRecord | null = null;
      if (existsSync(resultFile)) {
        const saved = JSON.parse(readFileSync(resultFile, "utf8")) as RunRecord;
        if (saved.fingerprint === fingerprint) record = saved;
        else say(`${id}: config changed since the saved result; running again`);
      }
      if (record) {
        skipped.push(id);
        say(`${id}: done before, skipped`);
        opts.onRun?.({ variant: v.name, seed, action: "skipped", record });
      } else {
        // A run cut short left logs and checkpoints; start it afresh.
        rmSync(runDir, { recursive: true, force: true });
        mkdirSync(runDir, { recursive: true });
        say(`${id}: training ${totalSteps(tc)} steps of ${tc.data.batch_size} on ${c.poolSize} rows`);
        record = await trainAndEval(cfg, tc, suite, v, seed, c.poolSize, fingerprint, quiet);
        await writeJsonAtomic(resultFile, record);
        // The result is written; the checkpoint (3x the weights with AdamW moments) is only kept on request.
        if (!cfg.keep_checkpoints) rmSync(path.join(runDir, "ckpt"), { recursive: true, force: true });
        ran.push(id);
        say(`${id}: average ${(100 * record.average).toFixed(2)}% (train ${record.trainSeconds.toFixed(1)} s, eval ${record.evalSeconds.toFixed(1)} s)`);
        opts.onRun?.({ variant: v.name, seed, action: "ran", record });
      }
      records.push(record);
      curves.push({ variant: v.name, seed, points: await readLossCurve(path.join(runDir, "log.jsonl")) });
    }
  }

  const variants = cfg.variants.map((v) => v.name);
  const { rows, metrics } = tableRows(variants, records);
  const charts = metricCharts(rows, metrics);
  const lossSvg = lossChart(curves, variants);
  const files: AblationResult["files"] = {
    markdown: path.join(outDir, "table.md"),
    csv: path.join(outDir, "table.csv"),
    html: path.join(outDir, "report.html"),
    results: path.join(outDir, "results.json"),
    charts: charts.map((c) => path.join(outDir, "charts", `${c.metric.replace(/[^A-Za-z0-9._-]+/g, "_")}.svg`)),
    loss: lossSvg ? path.join(outDir, "charts", "training-loss.svg") : null,
  };
  await writeFileAtomic(files.markdown, `# Ablation ${cfg.name}\n\n${cfg.description ? `${cfg.description.trim()}\n\n` : ""}Mean ± sample std over seeds ${cfg.seeds.join(", ")}, in percent.\n\n` + tableMarkdown(rows, metrics));
  await writeFileAtomic(files.csv, tableCsv(rows, metrics));
  for (const [i, c] of charts.entries()) await writeFileAtomic(files.charts[i]!, c.svg);
  if (lossSvg) await writeFileAtomic(files.loss!, lossSvg);
  await writeJsonAtomic(files.results, { name: cfg.name, seeds: cfg.seeds, pool: { shards: pool.shards, rows: pool.rows, replication: pool.replication ?? null }, rows, records });
  const datacards = cfg.variants.flatMap((v) => {
    const d = curated.get(v.name)!.datacard;
    return d ? [{ variant: v.name, card: d.card, svg: readFileSync(d.svg, "utf8") }] : [];
  });
  const notes = [
    { title: "Pool", text: `${pool.shards}\n${pool.rows} rows` + (pool.replication ? `\nZipf replication of the demo's concepts: ${JSON.stringify(pool.replication)}` : "") },
    { title: "Variants", text: cfg.variants.map((v) => `${v.name}: ${v.curation}${v.curation === "balance" ? ` (t = ${v.t}, seed ${v.seed})` : v.curation === "selection" ? ` (${v.file})` : ""}, ${curated.get(v.name)!.poolSize} rows`).join("\n") },
    { title: "Shared model and hyperparameters (run block)", text: toYaml({ seeds: cfg.seeds, run: cfg.run }) },
    { title: "Eval suite", text: toYaml(suite.tasks) },
  ];
  await writeFileAtomic(files.html, htmlReport({ name: cfg.name, intro: cfg.description?.trim(), rows, metrics, charts, lossSvg, datacards, notes }));
  say(`table ${files.markdown}, report ${files.html} (${ran.length} run(s) trained, ${skipped.length} skipped)`);
  return { outDir, rows, metrics, records, ran, skipped, files };
}
