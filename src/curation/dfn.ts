// Public API of DFN-style filtering (Data Filtering Networks): score pairs with
// a CLIP filter network, keep the best, and pick a trusted subset to train it.
export { scoreShards, rowCosines, type ScoreShardsOptions, type ScoreSummary } from "./dfn-score.js";
export { filterScores, selectScored, compareScored, type FilterOptions, type FilterResult } from "./dfn-filter.js";
export { readScoreSidecar, scoreSidecarOf, scoreSidecarsIn, type ScoredRow, type SkippedRow, type ScoreSidecar } from "./dfn-sidecar.js";
export { histogram, histogramSvg, type Histogram } from "./dfn-hist.js";
export { selectRows, parseCondition, rowPasses, type RowCondition, type SelectRowsResult } from "./dfn-hq.js";
