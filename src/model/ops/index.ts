export { registerFusedOp, unregisterFusedOp, fusedOp, type OpName } from "./registry.js";
export { layerNorm, layerNormReference, type LayerNormFn } from "./layer-norm.js";
export { attention, attentionReference, causalMask, type AttentionFn } from "./attention.js";
export { gelu, quickGelu, geluReference, quickGeluReference, type UnaryFn } from "./gelu.js";
export { softmaxCrossEntropy, softmaxCrossEntropyReference, type SoftmaxCEFn } from "./softmax-ce.js";
export { embedding, embeddingReference, type EmbeddingFn } from "./embedding.js";
export { linear, linearReference, type LinearFn } from "./linear.js";
export { matmul, transposeLast2, prefersPlainMatMul } from "./matmul.js";
export { oneHotFloat } from "./one-hot.js";
