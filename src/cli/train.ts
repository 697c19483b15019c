import { existsSync } from "node:fs";
import path from "node:path";
import type { CommandModule } from "yargs";
import { InputError } from "../util/errors.js";

interface TrainArgs {
  config: string;
  set: string[];
  resume?: string;
  backend?: string;
  device?: string;
  "dry-run": boolean;
  quiet: boolean;
}

// `clipts train --config FILE [--set key.path=value ...] [--resume latest|PATH] [--dry-run]`
// (the config may also be given as the first positional argument).
export const trainCommand: CommandModule<object, TrainArgs> = {
  command: "train [config]",
  describe: "Train a CLIP or SigLIP model from a YAML config",
  builder: (y) =>
    y
      .positional("config", { type: "string", describe: "YAML config (see configs/); same as --config FILE" })
      .option("set", { type: "string", array: true, default: [], describe: "Override a config key: --set train.lr=1e-3 (YAML scalar)" })
      .option("resume", { type: "string", describe: "Continue from 'latest' (in checkpoint.dir) or a checkpoint path" })
      .option("backend", { type: "string", describe: "Shorthand for --set train.backend=NAME (cpu|wasm|torch|tensorflow|auto)" })
      .option("device", { type: "string", describe: "Shorthand for --set train.device=DEV (torch backend: cpu or cuda:N)" })
      .option("dry-run", { type: "boolean", default: false, describe: "Print the resolved config, parameter count, FLOPs and memory estimate, then exit" })
      .option("quiet", { type: "boolean", default: false, describe: "No progress bar" }) as never,
  handler: async (args) => {
    const overrides = [
      ...args.set,
      ...(args.backend ? [`train.backend=${args.backend}`] : []),
      ...(args.device ? [`train.device=${args.device}`] : []),
    ];
    if (!args.config) throw new InputError("no config: clipts train --config FILE (see configs/)");
    // Imported here, not at start-up: the model code loads tfjs (~0.5 s).
    const { loadConfig } = await import("../train/config.js");
    const { runTraining } = await import("../train/run.js");
    const { describeRun, formatDryRun } = await import("../train/dry-run.js");
    const { resolveModelConfig } = await import("../train/config.js");
    const cfg = loadConfig(args.config, overrides);
    if (args["dry-run"]) {
      console.log(formatDryRun(describeRun(cfg)));
      return;
    }
    // First Ctrl-C: finish the current step, checkpoint, exit. Second: exit now.
    const stop = new AbortController();
    const onSigint = () => {
      if (stop.signal.aborted) process.exit(130);
      console.error("\nclipts train: stopping after this step (Ctrl-C again to quit without saving)");
      stop.abort();
    };
    // The eval suite is loaded now, so a bad one fails before training starts.
    const evaluate = cfg.eval.every > 0 && cfg.eval.suite
      ? await (await import("../eval/during-training.js")).trainingEvaluator(cfg.eval.suite, cfg, resolveModelConfig(cfg).text.contextLength)
      : undefined;
    process.on("SIGINT", onSigint);
    try {
      const r = await runTraining(cfg, { resume: args.resume, signal: stop.signal, quiet: args.quiet, evaluate });
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
      const peak = `${r.peak.sampled ? "peak tensor memory (sampled at step ends)" : "peak tensor memory"} ${mib(r.peak.bytes)}` +
        (r.peak.cudaBytes !== undefined ? ` (CUDA allocator peak ${mib(r.peak.cudaBytes)})` : "");
      console.error(
        `clipts train: ${r.status} at step ${r.step} on ${r.backend}; ${peak}; ` +
          `checkpoint ${r.lastCheckpoint ?? "(none)"}; log ${r.jsonl}${r.eventFile ? `; events ${r.eventFile}` : ""}`,
      );
      if (r.message) console.error(`clipts train: ${r.message}`);
      // The loss and eval metrics over steps, beside the checkpoints (rank 0 only: it owns the log).
      const { distEnvFromProcess } = await import("../train/distributed.js");
      if (r.jsonl && existsSync(r.jsonl) && (distEnvFromProcess()?.rank ?? 0) === 0) {
        const { writeTrainingCurves } = await import("../train/curves.js");
        const svg = path.join(cfg.checkpoint.dir, "curves.svg");
        if (await writeTrainingCurves(r.jsonl, svg, path.basename(path.resolve(cfg.checkpoint.dir)))) console.error(`clipts train: loss and eval curves plotted in ${svg}`);
      }
      const { formatDataCounts } = await import("../train/metrics.js");
      for (const l of formatDataCounts(r.data)) console.error(`clipts train: ${l}`);
      if (r.status === "diverged" || r.status === "data-exhausted") process.exitCode = 3;
      if (r.status === "interrupted") process.exitCode = 130;
    } finally {
      process.off("SIGINT", onSigint);
    }
  },
};
