// Public API of clipts: what a user calls, stage by stage, plus the types of
// those calls' options and results. The CLI is a thin layer over the same
// functions. Everything else is internal (import it from its module path at
// your own risk: it may change without notice).

// curate: MetaCLIP metadata, matching and balancing; DFN; worldwide curation.
export {
  buildMetadata, loadMetadata, type MetadataSources, type MetadataResult,
  buildMatcher, type Matcher,
  matchFile, type MatchOptions, type MatchResult,
  matchShards, type MatchShardsOptions, type MatchShardsResult,
  mergeCountFiles,
  balanceFile, type BalanceOptions, type BalanceResult,
  OnlineBalancer, tToP, pToT,
  datacard, type DatacardInput,
  scoreShards, filterScores,
  langidShards, loadLangId,
  worldwideCurate, type WorldwideCurateOptions, type WorldwideCurateResult,
  upsampleWorldwide, type UpsampleWorldwideOptions,
} from "./curation/index.js";

// data: ingest, shards, the streaming loader, the demo dataset.
export {
  ingest, type IngestOptions, type IngestResult,
  Loader, type LoaderOptions, type LoaderBatch, type LoaderState, type LoaderStats,
  buildDemo, buildDemoShards, type DemoOptions, type Batch,
} from "./data/index.js";
export { upsampleWeights, WEBLI_TARGETS } from "./curation/worldwide/upsample.js";

// formats that cross stages: Arrow shards with their manifest, selections.
export { ShardWriter, openShard, listShards, verifyShards } from "./formats/shards.js";
export type { Manifest, Sample } from "./formats/types.js";
export type { Selection } from "./formats/selection.js";
export { SelectionWriter, ShardSelection, openSelection, writeSelection, convertSelection, mergeSelections, type LoadedSelection } from "./formats/selection.js";

// text: the tokenizer.
export { loadTokenizer, type TextTokenizer, type TokenizerSpec } from "./text/index.js";

// model and losses.
export { createModel, disposeModel, getModelConfig, modelConfigs, countParams, flopsPerSample, memoryEstimate, type ModelConfig, type ClipModel } from "./model/index.js";
export { clipLoss, sigLipLoss, sigLipLossChunked, modelLoss } from "./loss/index.js";

// train.
export {
  runTraining, type RunOptions, type RunResult,
  loadConfig, validateConfig, type TrainConfig,
  AdamW, type AdamWOptions,
  saveCheckpoint, loadCheckpoint, resolveCheckpoint,
  writeSafetensors, readSafetensors,
} from "./train/index.js";

// eval.
export {
  runEvalSuite, loadSuite, type EvalSuite, type SuiteResult,
  zeroShotImageFolder, type ZeroShotResult,
  evaluateRetrieval, type RetrievalResult,
  loadEvalModel, type LoadedEvalModel,
} from "./eval/index.js";

// ablate.
export { runAblation, loadAblationConfig, type AblationConfig, type AblationResult } from "./ablation/index.js";

// model files (any form a user holds: safetensors, PyTorch .bin, open_clip folder, hf-hub: entry).
export { readModelFile, loadWeightsInto, exportWeights, type ModelFile } from "./model/weights-file.js";
export { readPytorchStateDict } from "./model/pytorch-archive.js";
export { openClipFolder, openClipConfig } from "./model/open-clip-hub.js";

// backends and the environment report.
export { setBackend, availableBackends, BACKEND_NAMES, type BackendName } from "./backend/index.js";
export { doctor, formatDoctor, type DoctorReport } from "./doctor.js";

export { InputError } from "./util/index.js";
