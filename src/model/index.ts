export type { ModelConfig, VisionConfig, TextConfig, ClipModel } from "./types.js";
export { createModel, disposeModel, type CreateModelOptions } from "./model.js";
export { modelConfigs, getModelConfig, validateModelConfig } from "./configs.js";
export { paramSpecs, paramShapes, countParams, type ParamSpec, type InitSpec } from "./params.js";
export { flopsPerSample, forwardFlopsPerSample, memoryEstimate, gpuMemory, type MemoryEstimate, type GpuMemory, type GpuMemoryOptions } from "./estimate.js";
export * as ops from "./ops/index.js";
