// Builds a Hugging Face `tokenizer.json` for OpenAI's CLIP BPE from the merge
// list in bpe_simple_vocab_16e6.txt, laid out like CLIPTokenizerFast's file:
// NFC + whitespace collapse + lowercase normalizer, OpenAI's regex as a Split
// pre-tokenizer followed by a byte-level mapping, a BPE model whose word-final
// symbols carry "</w>", and <|startoftext|> ... <|endoftext|> around each text.
import { byteSymbolsInVocabOrder } from "./bytes.js";

export const CLIP_VOCAB_SIZE = 49408;
export const CLIP_SOT = "<|startoftext|>";
export const CLIP_EOT = "<|endoftext|>";
/** Number of merges CLIP uses: 49152 - 256 - 2 (the rest of the file is unused). */
export const CLIP_NUM_MERGES = 49152 - 256 - 2;

/**
 * OpenAI's pre-tokenizer pattern (simple_tokenizer.py). It keeps contractions,
 * letter runs, single digits and runs of other symbols; whitespace is dropped.
 */
export const CLIP_SPLIT_REGEX =
  "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

export interface ClipTokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: {
    id: number;
    content: string;
    single_word: boolean;
    lstrip: boolean;
    rstrip: boolean;
    normalized: boolean;
    special: boolean;
  }[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: {
    type: "BPE";
    dropout: null;
    unk_token: string;
    continuing_subword_prefix: string;
    end_of_word_suffix: string;
    fuse_unk: boolean;
    byte_fallback: boolean;
    vocab: Record<string, number>;
    merges: string[];
  };
}

/**
 * @param lines the lines of bpe_simple_vocab_16e6.txt (line 0 is a header).
 * Throws if the file has too few merges or a malformed merge line.
 */
export function buildClipTokenizerJson(lines: string[]): ClipTokenizerJson {
  const mergeLines = lines.slice(1, CLIP_NUM_MERGES + 1);
  if (mergeLines.length !== CLIP_NUM_MERGES) {
    throw new Error(`BPE merge file has ${mergeLines.length} merges after the header, need ${CLIP_NUM_MERGES}`);
  }
  const merges = mergeLines.map((line, i) => {
    const parts = line.split(" ");
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new Error(`BPE merge file line ${i + 2}: expected two symbols separated by one space, got ${JSON.stringify(line)}`);
    }
    return [parts[0], parts[1]] as const;
  });

  // Token ids follow OpenAI's construction: bytes, bytes + "</w>", merges, specials.
  const tokens: string[] = [];
  const base = byteSymbolsInVocabOrder();
  tokens.push(...base, ...base.map((s) => s + "</w>"));
  for (const [a, b] of merges) tokens.push(a + b);
  tokens.push(CLIP_SOT, CLIP_EOT);
  if (tokens.length !== CLIP_VOCAB_SIZE) throw new Error(`built ${tokens.length} tokens, expected ${CLIP_VOCAB_SIZE}`);
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (t in vocab) throw new Error(`duplicate token ${JSON.stringify(t)} at ids ${vocab[t]} and ${i}`);
    vocab[t] = i;
  });

  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: true,
    special: true,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(CLIP_VOCAB_SIZE - 2, CLIP_SOT), special(CLIP_VOCAB_SIZE - 1, CLIP_EOT)],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "NFC" },
        { type: "Replace", pattern: { Regex: "\\s+" }, content: " " },
        { type: "Lowercase" },
      ],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        // invert: keep the regex matches, drop what lies between them.
        { type: "Split", pattern: { Regex: CLIP_SPLIT_REGEX }, behavior: "Removed", invert: true },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "RobertaProcessing",
      sep: [CLIP_EOT, CLIP_VOCAB_SIZE - 1],
      cls: [CLIP_SOT, CLIP_VOCAB_SIZE - 2],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: CLIP_EOT,
      continuing_subword_prefix: "",
      end_of_word_suffix: "</w>",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}
