// Public API of clipts. Each stage exports its library functions from its
// folder's index; the CLI calls the same functions.
export * from "./util/index.js";
export * from "./text/index.js";
export * from "./data/index.js";
export * from "./model/index.js";
export * from "./loss/index.js";
export * from "./backend/index.js";
export * from "./curation/index.js";
export * from "./train/index.js";
export * from "./eval/index.js";
export * from "./ablation/index.js";
