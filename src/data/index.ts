export type { Sample, Manifest, Batch } from "./types.js";
export { buildDemo } from "./demo.js";
export type { DemoOptions, DemoRow, DemoSummary } from "./demo.js";
