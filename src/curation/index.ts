// Public API of the curation stage (MetaCLIP metadata, matching, balancing).
export { buildMatcher, spaceText, type Matcher } from "./metaclip/matcher.js";
export { Balancer, OnlineBalancer, balanceKeep, entryProbs, mergeCounts, tToP, pToT } from "./metaclip/balance.js";
export {
  loadMetadata, parseMetadata, buildMetadata, readWordnet, readWordList, readCountedList, METADATA_THRESHOLDS,
  type MetadataSources, type MetadataResult, type SourceReport,
} from "./metaclip/metadata.js";
export { readCounts, writeCounts, mergeCountFiles } from "./metaclip/counts.js";
export { datacard, cumulativePlot, emptyTextStats, type TextStats, type DatacardInput } from "./metaclip/datacard.js";
export { readLineBatches, shardRange, type LineBatch } from "./lines.js";
export { matchBatch, emptyStats, type MatchStats } from "./metaclip/match-batch.js";
export { MatchPool } from "./metaclip/match-rows.js";
export { balanceRows, emptyTally, type BalanceTally, type MatchedRow } from "./metaclip/balance-rows.js";
export {
  matchFile, sidecarPaths,
  type MatchOptions, type MatchResult, type MatchFileStats,
} from "./metaclip/match-file.js";
export { balanceFile, type BalanceOptions, type BalanceResult } from "./metaclip/balance-file.js";
export { matchShards, sidecarsIn, sidecarOf, type MatchShardsOptions, type MatchShardsResult } from "./metaclip/shard-match.js";
export { loadLangId, langidShards, LangSidecars, CACHED_LANG_SHARDS, langSidecarOf, UNDETERMINED, type LangIdentifier } from "./worldwide/langid.js";
export {
  WorldwideMatcher, buildSubstringMatcher, buildSpacedMatcher, loadWorldwideMetadata, parseWorldwideMetadata, NO_SPACE_LANGS, CJK_PUNCT,
  type WorldwideMetadata,
} from "./worldwide/match.js";
export { worldwideThresholds, type WorldwideThresholds } from "./worldwide/thresholds.js";
export { worldwideCurate, type WorldwideCurateOptions, type WorldwideCurateResult } from "./worldwide/curate.js";
export * from "./dfn/index.js";
export { upsampleWorldwide, type UpsampleWorldwideOptions } from "./worldwide/curate.js";
