import { describe, it, expect, beforeAll } from "vitest";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { buildDemo, type DemoRow, type DemoSummary } from "../../src/data/demo.js";
import { InputError } from "../../src/util/errors.js";

const require = createRequire(import.meta.url);
const tmp = (p: string) => mkdtempSync(path.join(os.tmpdir(), p));
const readRows = (dir: string, f: string): DemoRow[] =>
  readFileSync(path.join(dir, f), "utf8").trim().split("\n").map((l) => JSON.parse(l));
const labelsIn = (lang: string) =>
  new Map<string, { label: string; tags?: string[] }>(require(`emojibase-data/${lang}/data.json`).map((e: { hexcode: string }) => [e.hexcode, e]));

describe("demo dataset", () => {
  let dir: string;
  let summary: DemoSummary;
  let train: DemoRow[];
  let evalRows: DemoRow[];
  beforeAll(async () => {
    dir = tmp("clipts-demo-");
    summary = await buildDemo({ output: dir, maxConcepts: 24, numClasses: 10, seed: 7, quiet: true });
    train = readRows(dir, "train.jsonl");
    evalRows = readRows(dir, "eval.jsonl");
  }, 60_000);

  it("writes the documented layout with consistent counts", () => {
    for (const f of ["train.jsonl", "eval.jsonl", "classes.json", "templates.json", "README.md", "demo.json"]) expect(existsSync(path.join(dir, f)), f).toBe(true);
    expect(summary.concepts).toBe(24);
    expect(summary.skipped).toEqual([]);
    expect(train).toHaveLength(24 * 3 * 2);
    expect(evalRows).toHaveLength(24);
    expect(new Set(train.map((r) => r.key)).size).toBe(train.length);
    expect(new Set(train.map((r) => r.style))).toEqual(new Set(["noto", "twemoji", "openmoji"]));
    expect(new Set(evalRows.map((r) => r.style))).toEqual(new Set(["fluent"]));
    // Each concept appears in every training style and once in eval.
    const concepts = new Set(evalRows.map((r) => r.concept));
    expect(new Set(train.map((r) => r.concept))).toEqual(concepts);
    expect(readFileSync(path.join(dir, "README.md"), "utf8")).toContain(`${train.length} image-text pairs`);
  });

  it("images decode as 64x64 RGB PNGs with content", async () => {
    const files = [...new Set([...train, ...evalRows].map((r) => r.image))];
    expect(files).toHaveLength(24 * 4);
    for (const f of files) {
      const { data, info } = await sharp(path.join(dir, f)).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels], f).toEqual([64, 64, 3]);
      const nonWhite = data.reduce((n, v) => n + (v < 240 ? 1 : 0), 0);
      expect(nonWhite, `${f} is blank`).toBeGreaterThan(50);
    }
  });

  it("captions use the concept's names in the caption's language, plus noise", () => {
    const langs = new Set(train.map((r) => r.lang));
    expect([...langs].every((l) => ["en", "de", "fr", "es", "ja", "zh", "und"].includes(l))).toBe(true);
    expect(langs.size).toBeGreaterThanOrEqual(5);
    const byLang = new Map<string, ReturnType<typeof labelsIn>>();
    for (const r of train) {
      expect(r.caption.trim().length, r.key).toBeGreaterThan(0);
      if (r.kind === "noise") {
        expect(r.lang).toBe("und");
        continue;
      }
      if (!byLang.has(r.lang)) byLang.set(r.lang, labelsIn(r.lang));
      const entry = byLang.get(r.lang)!.get(r.concept)!;
      if (r.kind === "template" || r.kind === "foreign") expect(r.caption, r.key).toContain(entry.label);
      else expect(entry.tags!.some((t) => r.caption.includes(t) || r.caption.includes(`#${t.replace(/\s+/g, "")}`)), r.key).toBe(true);
    }
    const kinds = new Set(train.map((r) => r.kind));
    for (const k of ["template", "tags", "foreign", "noise"]) expect(kinds.has(k as DemoRow["kind"]), k).toBe(true);
  });

  it("classes, labels and templates support zero-shot evaluation", () => {
    const classes: string[] = JSON.parse(readFileSync(path.join(dir, "classes.json"), "utf8"));
    const templates: string[] = JSON.parse(readFileSync(path.join(dir, "templates.json"), "utf8"));
    expect(classes).toHaveLength(10);
    expect(new Set(classes).size).toBe(10);
    expect(templates.length).toBeGreaterThan(1);
    expect(templates.every((t) => t.includes("{}"))).toBe(true);
    const en = labelsIn("en");
    const labeled = evalRows.filter((r) => r.label !== undefined);
    expect(labeled).toHaveLength(10);
    expect(new Set(labeled.map((r) => r.label))).toEqual(new Set(classes.map((_, i) => i)));
    for (const r of [...train, ...evalRows]) if (r.label !== undefined) expect(classes[r.label]).toBe(en.get(r.concept)!.label);
    for (const r of evalRows) expect(r.caption).toContain(en.get(r.concept)!.label);
  });

  it("writes per-language retrieval splits of the held-out images with their emojibase names", () => {
    expect(Object.keys(summary.evalByLang).sort()).toEqual(["de", "es", "fr", "ja", "zh"]);
    const evalKeys = new Set(evalRows.map((r) => r.key));
    for (const [lang, n] of Object.entries(summary.evalByLang)) {
      const rows = readRows(dir, `eval-${lang}.jsonl`);
      expect(rows).toHaveLength(n);
      expect(n).toBeGreaterThan(0);
      const names = labelsIn(lang);
      for (const r of rows) {
        expect(r.lang).toBe(lang);
        expect(evalKeys.has(r.key)).toBe(true); // the same held-out images as eval.jsonl
        expect(r.caption).toBe(names.get(r.concept)!.label);
      }
    }
  });

  it("is deterministic for a seed and changes with it", async () => {
    const again = tmp("clipts-demo-again-");
    await buildDemo({ output: again, maxConcepts: 24, numClasses: 10, seed: 7, quiet: true });
    for (const f of ["train.jsonl", "eval.jsonl", "classes.json", "demo.json"]) {
      expect(readFileSync(path.join(again, f), "utf8"), f).toBe(readFileSync(path.join(dir, f), "utf8"));
    }
    const img = train[0]!.image;
    expect(readFileSync(path.join(again, img)).equals(readFileSync(path.join(dir, img)))).toBe(true);
    const other = tmp("clipts-demo-other-");
    await buildDemo({ output: other, maxConcepts: 24, numClasses: 10, seed: 8, quiet: true, noiseFraction: 0 });
    const otherRows = readRows(other, "train.jsonl");
    expect(otherRows.map((r) => r.caption)).not.toEqual(train.map((r) => r.caption));
    expect(otherRows.some((r) => r.kind === "noise")).toBe(false);
  }, 60_000);

  it("rejects bad options before doing work", async () => {
    const out = path.join(tmp("clipts-demo-bad-"), "x");
    await expect(buildDemo({ output: out, maxConcepts: 0 })).rejects.toThrow(/maxConcepts/);
    await expect(buildDemo({ output: out, evalStyle: "apple" })).rejects.toThrow(InputError);
    await expect(buildDemo({ output: out, noiseFraction: 2 })).rejects.toThrow(/noiseFraction/);
    expect(existsSync(out)).toBe(false);
  });
});
