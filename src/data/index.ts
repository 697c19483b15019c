// The data stage: ingest into Arrow shards, the streaming loader, the demo
// dataset. The shard and selection formats live in ../formats and the image
// decoding and transforms in ../image (shared with curation and eval).
export type { Batch } from "./loader.js";
export { ingest, detectFormat, INGEST_FORMATS, type IngestOptions, type IngestResult } from "./ingest.js";
export { checkImage, DEFAULT_MAX_PIXELS } from "./ingest-image.js";
export { buildDemo, type DemoOptions, type DemoRow } from "./demo.js";
export type { DemoSummary } from "./demo-readme.js";
export { buildDemoShards, type DemoShardsResult } from "./demo-shards.js";
export { Loader, MAX_SKIPPED_KEYS } from "./loader.js";
export type { LoaderOptions, LoaderBatch, LoaderState, LoaderStats, SkipReason, SkippedSample } from "./loader.js";
export { shardSequence } from "./sampler.js";
