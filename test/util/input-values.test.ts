// Values from the command line, configs and metadata are checked before any
// work, and a huge caption is cut before BPE without changing its tokens.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { parseMetadata } from "../../src/curation/metaclip/metadata.js";
import { loadTokenizer, truncateForBpe } from "../../src/text/tokenizer.js";
import { loadConfig } from "../../src/train/config.js";

const root = path.resolve(__dirname, "../..");

describe("input values", () => {
  it("a number option given as text fails naming the option, before any output", () => {
    const d = mkdtempSync(path.join(tmpdir(), "clipts-cli-"));
    writeFileSync(path.join(d, "t.jsonl"), '{"key":"a","image":"x.png","caption":"c"}\n');
    const out = path.join(d, "out");
    const r = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "src/cli/main.ts"), "data", "ingest", "-i", path.join(d, "t.jsonl"), "-o", out, "--batch-rows", "abc"], { cwd: root, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("clipts: --batch-rows must be a number");
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it("data.workers over 256 is refused naming the key", () => {
    const d = mkdtempSync(path.join(tmpdir(), "clipts-cfg-"));
    const f = path.join(d, "c.yaml");
    writeFileSync(f, stringify({ model: { name: "micro" }, data: { train: d, batch_size: 4, workers: 500 }, train: { steps: 1 }, checkpoint: { dir: d } }));
    expect(() => loadConfig(f)).toThrow(/data\.workers/);
  });

  it("an empty or blank metadata entry is refused (it matches every text)", () => {
    expect(() => parseMetadata('["cat", "", "dog"]', "m.json")).toThrow("m.json: metadata entry at index 1 is empty (it would match every text)");
    expect(() => parseMetadata('["cat", "  "]', "m.json")).toThrow(/index 1 is empty/);
    expect(parseMetadata('["cat", "dog"]', "m.json")).toEqual(["cat", "dog"]);
  });

  it("long captions are cut before BPE to the same tokens as the whole text", async () => {
    const tok = await loadTokenizer({ kind: "clip", contextLength: 77 });
    let s = 7;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const words = ["photo", "of", "a", "dog", "New", "York", "2024", "résumé", "日本", "!!", "🙂", "state-of-the-art", "   ", "\n"];
    for (let t = 0; t < 5; t++) {
      const text = Array.from({ length: 6000 }, () => words[Math.floor(rnd() * words.length)]).join(rnd() < 0.5 ? " " : "  ");
      const cut = truncateForBpe(text, 77);
      expect(cut.length).toBeLessThan(text.length);
      // Reference: the whole text through BPE (cheap at this length), packed to the context.
      const whole = tok.tokenize([text]);
      expect(Array.from(tok.tokenize([cut]))).toEqual(Array.from(whole));
      const ids = tok.encode(text).slice(0, 76);
      expect(Array.from(whole.slice(0, 76))).toEqual(ids);
    }
    const huge = "a photo of a cat ".repeat(250_000); // 4 MB
    expect(truncateForBpe(huge, 77).length).toBeLessThan(2000);
    expect(Array.from(tok.tokenize([huge]))).toEqual(Array.from(tok.tokenize([huge.slice(0, 2000)])));
    expect(truncateForBpe("short text", 77)).toBe("short text");
  });
});
