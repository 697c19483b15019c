// Public API of the ablation stage: data variants trained and evaluated with
// one fixed model/hyperparameter block, tabulated and reported.
export { ablationConfigSchema, loadAblationConfig, validateAblationConfig, ablationOutDir, type AblationConfig, type VariantSpec } from "./config.js";
export { runAblation, runConfig, type AblationOptions, type AblationResult } from "./run.js";
export { preparePool, prepareMetadata, replicateRows, zipfCopies, writeZeroShotFolder, type PreparedPool } from "./pool.js";
export { matchPool, curateVariant, type MatchedPool, type CuratedVariant } from "./curate.js";
export { stat, tableRows, tableMarkdown, tableCsv, metricCharts, lossChart, htmlReport, type RunRecord, type TableRow, type Stat } from "./report.js";
