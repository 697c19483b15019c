// Text -> token ids for CLIP (OpenAI BPE) and for any Hugging Face
// tokenizer.json (e.g. multilingual SigLIP-style models), both run by
// @huggingface/tokenizers. Batches come out as int32 rows of a fixed context.
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { InputError } from "../util/errors.js";
import { basicClean, clipClean, whitespaceClean } from "./clean.js";
import { CLIP_EOT, CLIP_SOT } from "./clip-json.js";

export type TokenizerSpec =
  | {
      kind: "clip";
      /** Default 77. */
      contextLength?: number;
      /** Override the shipped tokenizer.json (plain or .gz). */
      path?: string;
    }
  | {
      kind: "hf";
      /** Path of a tokenizer.json (plain or .gz); tokenizer_config.json beside it is read if present. */
      path: string;
      /** Default 64 (SigLIP). */
      contextLength?: number;
      /** Padding id; default: the config's pad_token, else tokenizer.json padding.pad_id, else 0. */
      padId?: number;
      /** Apply OpenAI's clean-up (ftfy-like fix, whitespace collapse) before encoding. Default true. */
      clean?: boolean;
      /** Lowercase before encoding (open_clip does for SigLIP's canonicalize). Default false. */
      lowercase?: boolean;
    };

export interface TextTokenizer {
  readonly kind: "clip" | "hf";
  readonly vocabSize: number;
  readonly contextLength: number;
  /** Start-of-text id, or -1 when the tokenizer adds none. */
  readonly sotId: number;
  /** End-of-text id, kept last on truncation; -1 when the tokenizer adds none. */
  readonly eotId: number;
  readonly padId: number;
  /** Ids of one text including the special tokens, not truncated. */
  encode(text: string): number[];
  /** Rows of `contextLength` ids (row-major [texts.length, contextLength]), padded with padId. */
  tokenize(texts: string[], contextLength?: number): Int32Array;
  /** Ids back to text (special tokens dropped). */
  decode(ids: ArrayLike<number>): string;
}

/** The shipped CLIP tokenizer.json (built by scripts/build-clip-tokenizer.mjs). */
export function clipTokenizerJsonPath(): string {
  // Two levels up from src/text or dist/text is the package root.
  return fileURLToPath(new URL("../../data/clip-bpe-tokenizer.json", import.meta.url));
}

async function readJsonMaybeGz(file: string, what: string): Promise<Record<string, unknown>> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new InputError(`${what} ${file}: cannot read (${(err as Error).message})`);
  }
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  try {
    const v = JSON.parse(buf.toString("utf8"));
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
    return v;
  } catch (err) {
    throw new InputError(`${what} ${file}: invalid JSON (${(err as Error).message})`);
  }
}

function checkContext(n: number, key: string): number {
  if (!Number.isInteger(n) || n < 2) throw new InputError(`tokenizer ${key}: must be an integer >= 2, got ${n}`);
  return n;
}

/**
 * Pack id lists into [n, ctx] rows. Longer lists are cut to ctx and, when
 * `eot` >= 0 and the list ended with it, the last slot is set back to eot
 * (open_clip's truncation), so every row still ends its text with eot.
 */
export function packRows(lists: number[][], ctx: number, padId: number, eot: number): Int32Array {
  const out = new Int32Array(lists.length * ctx).fill(padId);
  lists.forEach((ids, r) => {
    const n = Math.min(ids.length, ctx);
    out.set(ids.length > ctx ? ids.slice(0, ctx) : ids, r * ctx);
    if (ids.length > ctx && eot >= 0 && ids[ids.length - 1] === eot) out[r * ctx + n - 1] = eot;
  });
  return out;
}

function isSpace(c: number): boolean {
  return c <= 32 || c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

/**
 * The prefix of a caption that BPE needs for `ctx` tokens. BPE cost grows
 * faster than the text (a 4 MB caption took 40 s), while only the first ctx
 * tokens are kept. Every token holds at least one non-space character, so a
 * prefix with 16x ctx (at least 1024) of them, ended at a word boundary, gives
 * the same first ctx tokens; a single word longer than 1024 more characters is
 * cut inside (its first tokens can then differ at the very end of a row).
 */
export function truncateForBpe(text: string, ctx: number): string {
  const need = Math.max(1024, ctx * 16);
  if (text.length <= need) return text;
  let seen = 0;
  for (let i = 0; i < text.length; i++) {
    if (isSpace(text.charCodeAt(i)) || ++seen < need) continue;
    for (let j = i + 1; j < Math.min(text.length, i + 1024); j++) if (isSpace(text.charCodeAt(j))) return text.slice(0, j);
    return text.slice(0, Math.min(text.length, i + 1024));
  }
  return text;
}

class HfBackedTokenizer implements TextTokenizer {
  constructor(
    readonly kind: "clip" | "hf",
    private readonly hf: HfTokenizer,
    readonly vocabSize: number,
    readonly contextLength: number,
    readonly sotId: number,
    readonly eotId: number,
    readonly padId: number,
    private readonly prepare: (text: string) => string,
  ) {}

  encode(text: string): number[] {
    if (typeof text !== "string") throw new InputError(`tokenizer: expected a string, got ${typeof text}`);
    return this.hf.encode(this.prepare(text)).ids;
  }

  tokenize(texts: string[], contextLength = this.contextLength): Int32Array {
    checkContext(contextLength, "contextLength");
    return packRows(
      texts.map((t) => this.encode(typeof t === "string" ? truncateForBpe(t, contextLength) : t)),
      contextLength,
      this.padId,
      this.eotId,
    );
  }

  decode(ids: ArrayLike<number>): string {
    // A packed row ends at its first eot; what follows is padding.
    let list = Array.from(ids);
    const end = this.eotId >= 0 ? list.indexOf(this.eotId) : -1;
    if (end >= 0) list = list.slice(0, end + 1);
    else while (list.length > 0 && list[list.length - 1] === this.padId) list.pop();
    if (list.length === 0) return "";
    return this.hf.decode(list, { skip_special_tokens: true }).trim();
  }
}

/**
 * The library memoizes BPE per word in a 10k-entry LRU whose every hit
 * reorders a Map; caption vocabularies are larger than that, so most words
 * were re-merged. Swap in a larger cache with the same get/put/clear
 * interface that simply starts over when full (hits cost one Map lookup).
 */
function widenBpeCache(hf: HfTokenizer, capacity = 1 << 18): void {
  // The package's typings do not resolve BPE under NodeNext; check by shape.
  const model = hf.model as unknown as { bpe?: unknown; cache?: unknown } | null;
  if (!model || typeof model.bpe !== "function" || model.cache === undefined) return;
  const map = new Map<string, string[]>();
  const cache = {
    get: (k: string) => map.get(k),
    put: (k: string, v: string[]) => {
      if (map.size >= capacity) map.clear();
      map.set(k, v);
    },
    clear: () => map.clear(),
  };
  model.cache = cache;
}

/** The tokenizer a config names (`data.tokenizer`): "clip" (the shipped CLIP BPE) or the path of a Hugging Face tokenizer.json. */
export function tokenizerSpec(name: string, contextLength: number): TokenizerSpec {
  return name === "clip" ? { kind: "clip", contextLength } : { kind: "hf", path: name, contextLength };
}

async function loadClip(spec: Extract<TokenizerSpec, { kind: "clip" }>): Promise<TextTokenizer> {
  const ctx = checkContext(spec.contextLength ?? 77, "contextLength");
  const file = spec.path ?? clipTokenizerJsonPath();
  const json = await readJsonMaybeGz(file, "CLIP tokenizer");
  const hf = new HfTokenizer(json, { clean_up_tokenization_spaces: false });
  widenBpeCache(hf);
  const sot = hf.token_to_id(CLIP_SOT);
  const eot = hf.token_to_id(CLIP_EOT);
  if (sot === undefined || eot === undefined) throw new InputError(`CLIP tokenizer ${file}: lacks ${CLIP_SOT} / ${CLIP_EOT}`);
  const vocabSize = hf.get_vocab(true).size;
  // open_clip pads CLIP token rows with 0 (which is also the id of "!").
  return new HfBackedTokenizer("clip", hf, vocabSize, ctx, sot, eot, 0, clipClean);
}

function tokenId(hf: HfTokenizer, token: unknown): number | undefined {
  const content = typeof token === "string" ? token : (token as { content?: string } | null)?.content;
  return typeof content === "string" ? hf.token_to_id(content) : undefined;
}

async function loadHf(spec: Extract<TokenizerSpec, { kind: "hf" }>): Promise<TextTokenizer> {
  const ctx = checkContext(spec.contextLength ?? 64, "contextLength");
  const json = await readJsonMaybeGz(spec.path, "tokenizer.json");
  if (typeof json.model !== "object" || json.model === null) throw new InputError(`tokenizer.json ${spec.path}: no "model" section`);
  const cfgPath = path.join(path.dirname(spec.path), "tokenizer_config.json");
  const config = existsSync(cfgPath) ? await readJsonMaybeGz(cfgPath, "tokenizer_config.json") : {};
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(json, config);
  } catch (err) {
    throw new InputError(`tokenizer.json ${spec.path}: unsupported by @huggingface/tokenizers (${(err as Error).message})`);
  }
  widenBpeCache(hf);
  const padding = json.padding as { pad_id?: number } | null | undefined;
  const padId = spec.padId ?? tokenId(hf, config.pad_token) ?? padding?.pad_id ?? 0;
  // Which specials the post-processor adds: encode an empty text and look.
  const specials = hf.encode("").ids;
  const eos = tokenId(hf, config.eos_token);
  const bos = tokenId(hf, config.bos_token);
  const eotId = eos !== undefined && specials.includes(eos) ? eos : specials.length > 0 ? specials[specials.length - 1]! : -1;
  const sotId = bos !== undefined && specials[0] === bos ? bos : specials.length > 1 ? specials[0]! : -1;
  const clean = spec.clean ?? true;
  const lower = spec.lowercase ?? false;
  const prepare = (t: string) => {
    let s = clean ? clipCleanKeepCase(t) : t;
    if (lower) s = s.toLowerCase();
    return s;
  };
  return new HfBackedTokenizer("hf", hf, hf.get_vocab(true).size, ctx, sotId, eotId, padId, prepare);
}

function clipCleanKeepCase(t: string): string {
  return whitespaceClean(basicClean(t));
}

/** Load a tokenizer; a bad spec or file fails with an InputError naming it. */
export async function loadTokenizer(spec: TokenizerSpec): Promise<TextTokenizer> {
  if (spec.kind === "clip") return loadClip(spec);
  if (spec.kind === "hf") {
    if (typeof spec.path !== "string" || spec.path === "") throw new InputError(`tokenizer path: required for kind "hf"`);
    return loadHf(spec);
  }
  throw new InputError(`tokenizer kind: expected "clip" or "hf", got ${JSON.stringify((spec as { kind: unknown }).kind)}`);
}
