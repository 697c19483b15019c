// Public API of DFN-style filtering (Data Filtering Networks): score pairs with
// a CLIP filter network, keep the best, and pick a trusted subset to train it.
export { scoreShards, rowCosines, type ScoreShardsOptions, type ScoreSummary } from "./score.js";
export { filterScores, selectScored, compareScored, type FilterOptions, type FilterResult } from "./filter.js";
export { readScoreSidecar, scoreSidecarOf, scoreSidecarsIn, type ScoredRow, type SkippedRow, type ScoreSidecar } from "./sidecar.js";
export { histogram, histogramSvg, type Histogram } from "./hist.js";
export { selectRows, parseCondition, rowPasses, type RowCondition, type SelectRowsResult } from "./hq.js";
