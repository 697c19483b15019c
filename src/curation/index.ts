// Public API of the curation stage (MetaCLIP metadata, matching, balancing).
export { buildMatcher, spaceText, type Matcher } from "./matcher.js";
export { Balancer, OnlineBalancer, balanceKeep, entryProbs, mergeCounts, tToP, pToT } from "./balance.js";
export {
  loadMetadata, parseMetadata, buildMetadata, readWordnet, readWordList, readCountedList, METADATA_THRESHOLDS,
  type MetadataSources, type MetadataResult, type SourceReport,
} from "./metadata.js";
export { readCounts, writeCounts, mergeCountFiles } from "./counts.js";
export { datacard, cumulativePlot, emptyTextStats, type TextStats, type DatacardInput } from "./datacard.js";
export { readLineBatches, shardRange, type ShardSpec, type LineBatch } from "./lines.js";
export { matchBatch, emptyStats, type MatchStats } from "./match-batch.js";
export {
  matchFile, parseShard, shardFromEnv, shardFromOptions, shardPath, sidecarPaths, workerAvailable,
  type MatchOptions, type MatchResult, type MatchFileStats,
} from "./match-file.js";
export { balanceFile, type BalanceOptions, type BalanceResult } from "./balance-file.js";
export { matchShards, sidecarsIn, sidecarOf, isShardDir, type MatchShardsOptions, type MatchShardsResult } from "./shard-match.js";
export { loadLangId, langidShards, readLangSidecars, langOf, langSidecarOf, UNDETERMINED, type LangIdentifier, type LangTable } from "./langid.js";
export {
  WorldwideMatcher, buildSubstringMatcher, buildSpacedMatcher, loadWorldwideMetadata, parseWorldwideMetadata, NO_SPACE_LANGS, CJK_PUNCT,
  type WorldwideMetadata,
} from "./worldwide-match.js";
export { worldwideThresholds, type WorldwideThresholds } from "./worldwide-thresholds.js";
export { worldwideCurate, type WorldwideCurateOptions, type WorldwideCurateResult } from "./worldwide-curate.js";
export { demoWorldwideMetadata } from "./worldwide-demo.js";
export * from "./dfn.js";
export { upsampleWorldwide, type UpsampleWorldwideOptions } from "./worldwide-curate.js";
