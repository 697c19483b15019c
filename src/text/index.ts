// Public API of the text stage: tokenizers and the text clean-up they apply.
export { loadTokenizer, tokenizerSpec, packRows, clipTokenizerJsonPath } from "./tokenizer.js";
export type { TextTokenizer, TokenizerSpec } from "./tokenizer.js";
export { fixText, basicClean, whitespaceClean, clipClean } from "./clean.js";
export { buildClipTokenizerJson, CLIP_VOCAB_SIZE, CLIP_NUM_MERGES, CLIP_SOT, CLIP_EOT, CLIP_SPLIT_REGEX } from "./clip-json.js";
export { bytesToUnicode } from "./bytes.js";
