// The multilingual SigLIP config and the worldwide ablation config validate,
// and the config's tokenizer kind (an HF tokenizer.json by path, context 64)
// runs with a real tokenizer.json written here.
import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../src/train/config.js";
import { describeRun } from "../../src/train/dry-run.js";
import { loadAblationConfig } from "../../src/ablation/config.js";
import { loadTokenizer } from "../../src/text/tokenizer.js";

describe("configs/siglip-multilingual-tiny.yaml", () => {
  it("validates and resolves to a SigLIP model with a 262,144-piece vocabulary and context 64", () => {
    const cfg = loadConfig("configs/siglip-multilingual-tiny.yaml");
    expect(cfg.data.tokenizer).toMatch(/tokenizer\.json$/);
    const r = describeRun(cfg);
    expect(r.model.loss).toBe("siglip");
    expect(r.model.text).toMatchObject({ vocabSize: 262144, contextLength: 64, causal: false, pool: "last" });
  });

  it("its tokenizer kind (HF tokenizer.json by path) yields [n, 64] rows within the vocabulary", async () => {
    const cfg = loadConfig("configs/siglip-multilingual-tiny.yaml");
    // A small multilingual Unigram tokenizer.json in place of Gemma's.
    const pieces = ["▁", "▁a", "▁cat", "▁chat", "▁Katze", "猫", "の", "写真", "一只", "▁photo", ..."abcdefghijklmnopqrstuvwxyz"];
    const vocab = [["<pad>", 0], ["</s>", 0], ["<unk>", 0], ...pieces.map((p) => [p, -2 - p.length])];
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-mltok-"));
    const file = path.join(dir, "tokenizer.json");
    writeFileSync(file, JSON.stringify({
      version: "1.0",
      added_tokens: ["<pad>", "</s>", "<unk>"].map((content, id) => ({ id, content, special: true, normalized: false, single_word: false, lstrip: false, rstrip: false })),
      normalizer: null,
      pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
      post_processor: {
        type: "TemplateProcessing", single: [{ Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 0 } }], pair: [],
        special_tokens: { "</s>": { id: "</s>", ids: [1], tokens: ["</s>"] } },
      },
      decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
      model: { type: "Unigram", unk_id: 2, vocab },
    }));
    const ctx = describeRun(cfg).model.text.contextLength;
    const tok = await loadTokenizer({ kind: "hf", path: file, contextLength: ctx });
    const rows = tok.tokenize(["a cat photo", "猫の写真", "eine Katze"]);
    expect(rows.length).toBe(3 * 64);
    expect(Math.max(...rows)).toBeLessThan(cfg.model.text!.vocab_size!);
    expect(tok.encode("猫の写真")).toEqual([3, 8, 9, 10, 1]);
  });
});

describe("configs/ablations/worldwide-demo.yaml", () => {
  it("validates: a raw variant and two selection variants (balanced, upsampled)", () => {
    const cfg = loadAblationConfig("configs/ablations/worldwide-demo.yaml");
    expect(cfg.variants.map((v) => [v.name, v.curation])).toEqual([
      ["raw", "none"], ["worldwide-balanced", "selection"], ["worldwide-upsampled", "selection"],
    ]);
  });
});
