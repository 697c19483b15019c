// Public API of the training stage.
export { trainConfigSchema, loadConfig, validateConfig, applyOverrides, formatConfigIssues, totalSteps, type TrainConfig } from "./config.js";
export { lrAt, type ScheduleOptions } from "./schedule.js";
export { AdamW, excludedFromDecay, type AdamWOptions } from "./adamw.js";
export { globalNorm, clipByGlobalNorm } from "./grads.js";
export { computeGradients, splitBatch, LOSS_PARAMS, type Objective, type MicroBatch } from "./step.js";
export { modelObjective, objectiveWith } from "./objective.js";
export { onlineBalanceFilter, type BalanceConfig } from "./balance.js";
export { writeSafetensors, readSafetensors, encodeHeader, type STTensor, type SafetensorsFile } from "../model/safetensors.js";
export {
  saveCheckpoint,
  loadCheckpoint,
  resolveCheckpoint,
  restoreCheckpoint,
  checkpointName,
  CHECKPOINT_FORMAT,
  type LoadedCheckpoint,
} from "../model/checkpoint.js";
export { EventWriter, frameRecord, encodeScalarEvent } from "./tensorboard.js";
export { crc32c, maskedCrc32c } from "./crc32c.js";
export { ScalarLog } from "./metrics.js";
export { trainLoop, type BatchSource, type LoopOptions, type LoopResult, type StepInfo } from "./loop.js";
export { runTraining, type RunOptions, type RunResult } from "./run.js";
export { describeRun, formatDryRun, type DryRunReport } from "./dry-run.js";
export { resolveModelConfig } from "./config.js";
