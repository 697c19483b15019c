export type { Sample, Manifest, Batch } from "./types.js";
export * from "./shards.js";
export { ingest, detectFormat, INGEST_FORMATS, type IngestOptions, type IngestResult } from "./ingest.js";
export { checkImage, DEFAULT_MAX_PIXELS } from "./ingest-image.js";
export { buildDemo } from "./demo.js";
export type { DemoOptions, DemoRow, DemoSummary } from "./demo.js";
export { buildDemoShards, type DemoShardsResult } from "./demo-shards.js";
