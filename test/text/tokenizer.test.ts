import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import os from "node:os";
import path from "node:path";
import { loadTokenizer, clipTokenizerJsonPath, buildClipTokenizerJson, type TextTokenizer } from "../../src/text/index.js";
import { InputError } from "../../src/util/errors.js";
import { referenceEncode, MERGES } from "./clip-reference.js";

let clip: TextTokenizer;
beforeAll(async () => {
  clip = await loadTokenizer({ kind: "clip" });
});

describe("shipped CLIP tokenizer.json", () => {
  const json = JSON.parse(readFileSync(clipTokenizerJsonPath(), "utf8"));
  it("has OpenAI's vocabulary layout", () => {
    const vocab: Record<string, number> = json.model.vocab;
    expect(Object.keys(vocab)).toHaveLength(49408);
    expect(MERGES).toHaveLength(48894);
    // Printable ASCII bytes come first in byte order: '!' = 0, 'a' = 0x61 - 0x21.
    expect(vocab["!"]).toBe(0);
    expect(vocab["a"]).toBe(0x61 - 0x21);
    expect(vocab["a</w>"]).toBe(256 + 0x61 - 0x21);
    expect(vocab["Ġ"]).toBe(188 + 32); // space, the 33rd shifted byte after the 188 printable ones
    // Every merge i is token 512 + i.
    MERGES.forEach((m, i) => {
      if (vocab[m.replace(" ", "")] !== 512 + i) throw new Error(`merge ${i} ${m} has id ${vocab[m.replace(" ", "")]}`);
    });
    expect(vocab["<|startoftext|>"]).toBe(49406);
    expect(vocab["<|endoftext|>"]).toBe(49407);
    expect(json.model.end_of_word_suffix).toBe("</w>");
  });
  it("builder rejects a truncated or malformed merge file", () => {
    expect(() => buildClipTokenizerJson(["#version", "i n"])).toThrow(/48894/);
    const lines = ["#version: 0.2", ...MERGES];
    lines[5] = "bad";
    expect(() => buildClipTokenizerJson(lines)).toThrow(/line 6/);
  });
});

describe("CLIP tokenizer", () => {
  it("encodes the known example", () => {
    expect(clip.encode("a photo of a cat")).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
    // CLIP's README example clip.tokenize(["a diagram", "a dog", "a cat"]) and HF's "Hello world".
    expect(clip.encode("a diagram")).toEqual([49406, 320, 22697, 49407]);
    expect(clip.encode("a dog")).toEqual([49406, 320, 1929, 49407]);
    expect(clip.encode("Hello world")).toEqual([49406, 3306, 1002, 49407]);
    expect([clip.vocabSize, clip.contextLength, clip.sotId, clip.eotId, clip.padId]).toEqual([49408, 77, 49406, 49407, 0]);
  });

  it("agrees with a naive OpenAI-algorithm reference on varied text", () => {
    const texts = [
      "a diagram of the water cycle, with arrows",
      "rock'n'roll isn't dead; we've got 3 guitars",
      "naïve café über straße",
      "東京タワーの夜景",
      "кошка на диване",
      "🐱🐶 pets!!! 🎉",
      "x^2 + y^2 = 1/2 (approx. 0.5)",
      "https://example.com/img_0042.jpg",
      "supercalifragilisticexpialidocious antidisestablishmentarianism",
      "<|endoftext|> inside text",
      "",
    ];
    for (const t of texts) expect(clip.encode(t), t).toEqual(referenceEncode(t));
  });

  it("single digits are separate tokens and a lone letter word is byte+</w>", () => {
    const ids = clip.encode("2023");
    const digit = (d: string) => 256 + d.charCodeAt(0) - 0x21;
    expect(ids).toEqual([49406, digit("2"), digit("0"), digit("2"), digit("3"), 49407]);
  });

  it("cleans like OpenAI: case, whitespace, html entities, NFC, ftfy fixes", () => {
    const same = (a: string, b: string) => expect(clip.encode(a), `${a} vs ${b}`).toEqual(clip.encode(b));
    same("A  PHOTO\tof\n\na Cat ", "a photo of a cat");
    same("fish &amp; chips", "fish & chips");
    same("fish &amp;amp; chips", "fish & chips"); // unescaped twice, as OpenAI does
    same("&lt;3 &#x1F431; &eacute;t&eacute;", "<3 🐱 été");
    same("cafe\u0301", "café"); // NFC
    same("don\u2019t \u201cquote\u201d", "don't \"quote\"");
    same("\uff21\uff22\uff23 \ufb01sh", "abc fish"); // fullwidth, ligature
    same("caf\u00c3\u00a9 cr\u00c3\u00a8me", "café crème"); // UTF-8 read as latin-1
    same("bad\u0000\u0007 control", "bad control");
    expect(clip.encode("   \n\t ")).toEqual([49406, 49407]);
  });

  it("tokenize pads with 0, truncates keeping eot last, and checks context", () => {
    const long = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ");
    const rows = clip.tokenize(["a photo of a cat", long, ""]);
    expect(rows).toBeInstanceOf(Int32Array);
    expect(rows.length).toBe(3 * 77);
    expect(Array.from(rows.slice(0, 8))).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 0]);
    expect(rows.slice(7, 77).every((v) => v === 0)).toBe(true);
    const full = clip.encode(long);
    expect(full.length).toBeGreaterThan(77);
    expect(Array.from(rows.slice(77, 77 + 76))).toEqual(full.slice(0, 76));
    expect(rows[77 + 76]).toBe(49407);
    expect(Array.from(rows.slice(154, 157))).toEqual([49406, 49407, 0]);
    const short = clip.tokenize(["a photo of a cat"], 4);
    expect(Array.from(short)).toEqual([49406, 320, 1125, 49407]);
    expect(() => clip.tokenize(["x"], 1)).toThrow(InputError);
    expect(clip.decode(rows.slice(0, 77))).toBe("a photo of a cat");
  });
});

describe("HF tokenizer.json (SigLIP-style)", () => {
  // A tiny SentencePiece-like Unigram tokenizer: Metaspace words, "</s>" appended.
  const vocab: [string, number][] = [
    ["<pad>", 0], ["</s>", 0], ["<unk>", 0],
    ["▁a", -2], ["▁photo", -3], ["▁of", -2], ["▁cat", -3], ["▁ca", -4], ["t", -4], ["▁", -5],
    ["c", -6], ["a", -6], ["o", -6], ["▁dog", -3],
  ];
  function writeTokenizer(dir: string, gz: boolean) {
    const json = {
      version: "1.0",
      added_tokens: [
        { id: 0, content: "<pad>", special: true, normalized: false, single_word: false, lstrip: false, rstrip: false },
        { id: 1, content: "</s>", special: true, normalized: false, single_word: false, lstrip: false, rstrip: false },
        { id: 2, content: "<unk>", special: true, normalized: false, single_word: false, lstrip: false, rstrip: false },
      ],
      normalizer: null,
      pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
      post_processor: {
        type: "TemplateProcessing",
        single: [{ Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 0 } }],
        pair: [],
        special_tokens: { "</s>": { id: "</s>", ids: [1], tokens: ["</s>"] } },
      },
      decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
      model: { type: "Unigram", unk_id: 2, vocab },
    };
    const file = path.join(dir, gz ? "tokenizer.json.gz" : "tokenizer.json");
    const body = JSON.stringify(json);
    writeFileSync(file, gz ? gzipSync(body) : body);
    writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ pad_token: "<pad>", eos_token: "</s>", unk_token: "<unk>" }));
    return file;
  }

  it("encodes, appends eos, pads with the config's pad id, truncates keeping eos", async () => {
    for (const gz of [false, true]) {
      const dir = mkdtempSync(path.join(os.tmpdir(), "clipts-hf-"));
      const tok = await loadTokenizer({ kind: "hf", path: writeTokenizer(dir, gz), lowercase: true });
      expect(tok.contextLength).toBe(64);
      expect([tok.padId, tok.eotId, tok.sotId]).toEqual([0, 1, -1]);
      // Best segmentation by score: "▁cat" (-3) beats "▁ca"+"t" (-8).
      expect(tok.encode("A  photo of a CAT")).toEqual([3, 4, 5, 3, 6, 1]);
      const rows = tok.tokenize(["a cat", "a photo of a dog a photo of a dog"], 4);
      expect(Array.from(rows)).toEqual([3, 6, 1, 0, 3, 4, 5, 1]);
      expect(tok.tokenize(["a"]).length).toBe(64);
      const pad7 = await loadTokenizer({ kind: "hf", path: writeTokenizer(dir, gz), padId: 7, contextLength: 5 });
      expect(Array.from(pad7.tokenize(["a"]))).toEqual([3, 1, 7, 7, 7]);
    }
  });

  it("a BPE tokenizer.json (the CLIP one) loaded as kind hf matches kind clip", async () => {
    const hf = await loadTokenizer({ kind: "hf", path: clipTokenizerJsonPath(), contextLength: 77, lowercase: true });
    expect([hf.sotId, hf.eotId, hf.padId, hf.vocabSize]).toEqual([49406, 49407, 0, 49408]);
    const texts = ["A photo of a CAT", "naïve café 🐱", "x".repeat(300)];
    expect(Array.from(hf.tokenize(texts))).toEqual(Array.from(clip.tokenize(texts)));
  });

  it("bad specs and files fail with InputError naming the file or key", async () => {
    await expect(loadTokenizer({ kind: "hf", path: "/nonexistent/tokenizer.json" })).rejects.toThrow(/\/nonexistent\/tokenizer.json/);
    const dir = mkdtempSync(path.join(os.tmpdir(), "clipts-hf-bad-"));
    writeFileSync(path.join(dir, "tokenizer.json"), "{not json");
    await expect(loadTokenizer({ kind: "hf", path: path.join(dir, "tokenizer.json") })).rejects.toThrow(InputError);
    await expect(loadTokenizer({ kind: "clip", contextLength: 0 })).rejects.toThrow(/contextLength/);
    await expect(loadTokenizer({ kind: "bpe" } as never)).rejects.toThrow(/kind/);
  });
});
