// `clipts train`: wire a validated config to a backend, the model, the
// streaming loader and the loop; resume from a checkpoint; or (dry run)
// describe the run without doing it.
import { openSelection } from "../formats/selection.js";
import path from "node:path";
import { setBackend, type BackendName } from "../backend/index.js";
import { slowBlasWarning } from "../backend/blas.js";
import { Loader } from "../data/loader.js";
import type { Selection } from "../formats/selection.js";
import { clampLogitScale } from "../loss/index.js";
import { createModel, disposeModel, type ClipModel } from "../model/index.js";
import { loadTokenizer, tokenizerSpec } from "../text/index.js";
import { InputError } from "../util/errors.js";
import { AdamW } from "./adamw.js";
import { onlineBalanceFilter } from "./balance.js";
import { upsampleRepeatCount } from "./upsample.js";
import { loadWeightsInto } from "../model/weights-file.js";
import { loadCheckpoint, resolveCheckpoint, restoreCheckpoint } from "../model/checkpoint.js";
import { resolveModelConfig, totalSteps, type TrainConfig } from "./config.js";
import { distEnvFromProcess, localBatchSize, ProcessGroup, rankDevice } from "./distributed.js";
import { resumeLoaderState } from "./distributed-checkpoint.js";
import { trainLoop, type BatchSource, type LoopDist, type LoopResult, type StepInfo } from "./loop.js";
import type { LoaderStats } from "../data/loader.js";
import { dataCounts, ScalarLog, trimLogAfter } from "./metrics.js";
import { objectiveWith } from "./objective.js";
import { ownedBy, shardOwners, zeroHooks } from "./zero.js";

function readSelection(file: string): Selection {
  return openSelection(file, "data.selection");
}

export interface RunOptions {
  /** "latest" (in checkpoint.dir), a checkpoint folder or a checkpoint file. */
  resume?: string;
  signal?: AbortSignal;
  quiet?: boolean;
  onStep?: (info: StepInfo) => void;
  /** Evaluation hook run every `eval.every` steps (issue 6 supplies it). */
  evaluate?: (model: ClipModel, step: number) => Promise<Record<string, number>>;
}

export interface RunResult extends LoopResult {
  backend: BackendName;
  jsonl: string;
  eventFile: string | null;
  /** The loader's skip and cut-short counts (printed by `clipts train`). */
  data: LoaderStats;
}

export async function runTraining(cfg: TrainConfig, opts: RunOptions = {}): Promise<RunResult> {
  const mc = resolveModelConfig(cfg);
  const selection = cfg.data.selection ? readSelection(cfg.data.selection) : undefined;
  const balance = cfg.data.balance ? await onlineBalanceFilter(cfg.data.balance) : null;
  if (balance?.badLines) console.error(`clipts train: data.balance.matches: skipped ${balance.badLines} unreadable lines`);
  const upsample = cfg.data.upsample ? await upsampleRepeatCount(cfg.data.upsample, selection) : null;
  if (upsample?.badLines) console.error(`clipts train: data.upsample.langs: skipped ${upsample.badLines} unreadable lines`);
  // Data parallel when launched by torchrun / `clipts launch` (WORLD_SIZE > 1).
  const denv = distEnvFromProcess();
  const ck = opts.resume ? await loadCheckpoint(resolveCheckpoint(opts.resume, cfg.checkpoint.dir)) : null;
  if (ck && JSON.stringify(ck.state.model) !== JSON.stringify(mc)) {
    throw new InputError(`--resume ${ck.file}: the checkpoint's model differs from the config's model`);
  }
  // Each rank continues from its own loader position (same world size only).
  const resumeFrom = ck ? resumeLoaderState(ck, denv?.rank ?? 0, denv?.worldSize ?? 1) : undefined;
  if (cfg.eval.every > 0 && !opts.evaluate) {
    console.error("clipts train: eval.every is set but no evaluator is wired into this run (set eval.suite); skipping evaluation");
  }
  if (cfg.train.siglip_chunk !== null && mc.loss !== "siglip") {
    throw new InputError(`config: train.siglip_chunk is for the siglip loss; model "${mc.name}" trains with ${mc.loss}`);
  }
  if (cfg.train.precision === "bf16" && cfg.train.backend !== "torch") {
    throw new InputError(`config: train.precision bf16 needs train.backend torch (got ${cfg.train.backend})`);
  }
  const batchSize = denv ? localBatchSize(cfg.data.batch_size, denv.worldSize, cfg.train.accum_freq) : cfg.data.batch_size;
  const device = rankDevice(cfg.train.device, denv);
  const backend = await setBackend(cfg.train.backend, {
    device: device ?? undefined,
    bf16: cfg.train.precision === "bf16",
  });
  // A reference BLAS trains ~10x slower with no other symptom (src/backend/blas.ts).
  if (backend === "torch" && !device?.startsWith("cuda") && !opts.quiet) {
    const warning = slowBlasWarning();
    if (warning) console.error(`clipts train: ${warning}`);
  }
  const ctx = mc.text.contextLength;
  const tokenizer = tokenizerSpec(cfg.data.tokenizer, ctx);
  // Loaded here only to fail before any work on a bad tokenizer: the decode workers load their own.
  await loadTokenizer(tokenizer);
  // Same seed on every rank: identical initial weights, kept identical by the averaged gradients.
  const model = createModel(mc, { seed: cfg.train.seed, gradCheckpointing: cfg.train.grad_checkpointing });
  if (cfg.model.pretrained && !ck) await loadWeightsInto(model.params, cfg.model.pretrained);
  // LiT: a frozen image tower gets no gradient, so AdamW leaves it (and its moments) as they are.
  if (cfg.train.lock_image) for (const [name, v] of model.params) if (name.startsWith("visual.")) v.trainable = false;
  const t = cfg.train;
  // ZeRO-1: each rank keeps the moments of (and updates) its share of the parameters.
  const owners = denv && t.zero_stage === 1 ? shardOwners(new Map([...model.params].map(([n, p]) => [n, p.shape])), denv.worldSize) : null;
  const owned = owners ? ownedBy(owners, denv!.rank) : undefined;
  const optimizer = new AdamW(model.params, { beta1: t.beta1, beta2: t.beta2, eps: t.eps, weightDecay: t.weight_decay, ...(owned ? { owned } : {}) });
  if (ck) restoreCheckpoint(ck, model.params, optimizer);

  const loader = new Loader({
    dir: cfg.data.train,
    verifyHashes: cfg.data.verify_hashes,
    batchSize,
    // Captions are tokenized in the decode workers, beside their images.
    tokenizer,
    contextLength: ctx,
    imageSize: mc.vision.imageSize,
    seed: cfg.data.seed,
    epochs: Infinity,
    workers: cfg.data.workers,
    resampled: cfg.data.resampled,
    selection,
    sampler: balance?.filter,
    repeats: upsample?.repeats,
    mean: cfg.data.mean,
    std: cfg.data.std,
    resumeFrom,
    shuffleBuffer: cfg.data.shuffle_buffer,
    ...(denv ? { rank: denv.rank, worldSize: denv.worldSize, splitBy: "row" as const } : {}),
  });
  let pg: ProcessGroup | null = null;
  try {
    pg = denv ? ProcessGroup.init(denv, device) : null;
  } catch (err) {
    await loader.close();
    throw err;
  }
  const main = !pg || pg.isMain;
  // Spread into every checkpoint at save time (the loop adds every rank's loader state in a distributed run).
  const extraState: Record<string, unknown> = { model: mc, config: cfg };
  const dist: LoopDist | undefined = pg
    ? {
        reduceGradients: (g) => pg.averageGradients(g),
        anyStop: (local) => pg.sum(local ? 1 : 0) > 0,
        allGatherJson: (v) => pg.allGatherJson(v),
        isMain: pg.isMain,
        ...(owners ? zeroHooks(pg, model.params, owners, optimizer) : {}),
      }
    : undefined;
  const it = loader[Symbol.asyncIterator]();
  const source: BatchSource = {
    next: async () => (await it.next()).value ?? null,
    state: () => loader.state(),
    counts: () => dataCounts(loader.stats()),
    close: async () => void (await it.return?.(undefined)),
  };
  const jsonl = cfg.log.jsonl ?? path.join(cfg.checkpoint.dir, "log.jsonl");
  // A resumed run rewrites the steps after its checkpoint: drop their old lines so no step appears twice.
  if (main && ck) await trimLogAfter(jsonl, ck.step);
  const log = main ? new ScalarLog(jsonl, cfg.log.tensorboard) : null;
  try {
    const result = await trainLoop({
      model,
      objective: objectiveWith({ ...(t.siglip_chunk !== null ? { sigLipChunk: t.siglip_chunk } : {}), ...(pg ? { ranks: pg.exchange() } : {}) }),
      optimizer,
      source,
      schedule: {
        kind: t.schedule,
        baseLr: t.lr,
        warmup: t.warmup,
        steps: totalSteps(cfg),
        cooldownSteps: t.cooldown_steps,
        cooldownPower: t.cooldown_power,
        cooldownEndLr: t.cooldown_end_lr,
      },
      startStep: ck?.step ?? 0,
      accumFreq: t.accum_freq,
      gradClipNorm: t.grad_clip_norm,
      clampLogitScale,
      log,
      logEvery: cfg.log.every,
      checkpointDir: cfg.checkpoint.dir,
      checkpointEvery: cfg.checkpoint.every,
      keep: cfg.checkpoint.keep,
      maxWeightNormGrowth: cfg.checkpoint.max_weight_norm_growth,
      extraState,
      signal: opts.signal,
      quiet: opts.quiet || !main,
      onStep: opts.onStep,
      evaluate: main ? opts.evaluate : undefined,
      dist,
      evalEvery: cfg.eval.every,
    });
    return { ...result, backend, jsonl, eventFile: log?.eventFile ?? null, data: loader.stats() };
  } finally {
    await source.close?.();
    log?.close();
    pg?.destroy();
    optimizer.dispose();
    disposeModel(model);
  }
}
