// Public API of the evaluation stage.
export {
  normalizeRows,
  averageTemplates,
  matmulT,
  classificationMetrics,
  retrievalRecall,
  type ClassificationMetrics,
  type ConfusedPair,
  type RetrievalMetrics,
} from "./metrics.js";
export {
  BUILTIN_DATASETS,
  builtinAssets,
  isBuiltinDataset,
  readStringList,
  readTemplates,
  fillTemplate,
  imagenetWnids,
  imagenetWnidMap,
  zeroshotDataDir,
  type BuiltinDataset,
  type ZeroShotAssets,
} from "./assets.js";
export { scanImageFolder, resolveClassFolders, type FolderNaming, type ImageFolderScan, type ImageFolderItem } from "./image-folder.js";
export {
  embedTexts,
  embedImages,
  cosineSimilarity,
  type EvalTokenizer,
  type DecodeFn,
  type DecodeResult,
  type ImageThunk,
  type ImageEmbeddings,
  type SkipCounts,
} from "../model/embed.js";
export { createEvalDecoder, evalTransformSpec, type EvalDecoder, type EvalImageOptions } from "../image/decode.js";
export { classifierCacheKey, readCachedClassifier, writeCachedClassifier, defaultCacheDir } from "./text-cache.js";
export {
  buildZeroShotClassifier,
  evaluateZeroShot,
  zeroShotImageFolder,
  zeroShotShards,
  type ZeroShotClassifier,
  type ZeroShotResult,
  type ZeroShotSource,
  type LabelledImages,
} from "./zeroshot.js";
export { readCaptionJsonl, readCaptionShards, evaluateRetrieval, type CaptionedSplit, type RetrievalResult } from "./retrieval.js";
export {
  parseSuite,
  loadSuite,
  runEvalSuite,
  suiteMarkdown,
  writeSuiteResult,
  zeroShotNaming,
  type EvalSuite,
  type SuiteTask,
  type SuiteResult,
  type TaskResult,
  type RunSuiteOptions,
} from "./suite.js";
export { loadEvalModel, resolveCheckpointFile, type LoadedEvalModel, type EvalModelOptions } from "../model/load.js";
export {
  evalCheckpointZeroShot,
  evalCheckpointRetrieval,
  evalCheckpointSuite,
  formatZeroShot,
  formatRetrieval,
  defaultSuiteOut,
} from "./run.js";
