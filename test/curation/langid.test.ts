// Language identification: accuracy of eld on short labelled captions (emoji
// names from emojibase-data, an installed dependency), and the per-shard
// sidecars {row, key, lang, confidence}.
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { CACHED_LANG_SHARDS, LangSidecars, langidShards, langSidecarOf, loadLangId } from "../../src/curation/worldwide/langid.js";
import { writeShards, type Row } from "../data/loader-fixtures.js";

const root = path.dirname(createRequire(import.meta.url).resolve("emojibase-data/package.json"));

// Floors per emojibase folder: 0.1 below what eld@2.1.0 scored on this exact
// sample (150 labels spread evenly over each language's list), rounded down.
// Emoji names are hard (1–4 words, many shared loanwords: "flag: Chile").
const FLOORS: Record<string, number> = {
  bn: 0.9, da: 0.4, de: 0.55, en: 0.6, es: 0.55, et: 0.55, fi: 0.6, fr: 0.6, hi: 0.55, hu: 0.65, it: 0.6, ja: 0.75,
  ko: 0.85, lt: 0.7, ms: 0.6, nl: 0.45, pl: 0.65, pt: 0.55, ru: 0.5, sv: 0.3, th: 0.9, uk: 0.55, vi: 0.8, zh: 0.7,
};

function labels(folder: string): string[] {
  const all = [...new Set((JSON.parse(readFileSync(path.join(root, folder, "data.json"), "utf8")) as { label?: unknown }[])
    .map((e) => e.label).filter((l): l is string => typeof l === "string"))];
  const step = Math.floor(all.length / 150);
  return all.filter((_, i) => i % step === 0).slice(0, 150);
}

describe("langid (eld)", () => {
  it("identifies short emoji-name captions above the per-language floor", async () => {
    const id = await loadLangId();
    const folders = readdirSync(root).filter((d) => existsSync(path.join(root, d, "data.json")));
    let tested = 0;
    const acc: Record<string, number> = {};
    for (const d of folders) {
      const lang = d.split("-")[0]!;
      if (!id.languages.includes(lang) || d.includes("-")) continue; // nb: eld has no Norwegian; regional variants skipped
      const ls = labels(d);
      const ok = ls.filter((l) => id.detect(l).lang === lang).length;
      acc[lang] = ok / ls.length;
      tested++;
    }
    expect(tested).toBe(Object.keys(FLOORS).length);
    for (const [lang, floor] of Object.entries(FLOORS)) expect({ lang, acc: acc[lang]! >= floor ? "ok" : acc[lang] }).toEqual({ lang, acc: "ok" });
  });

  it("returns und for empty or blank captions and confidences in [0, 1]", async () => {
    const id = await loadLangId();
    expect(id.detect("")).toEqual({ lang: "und", confidence: 0 });
    expect(id.detect("   ")).toEqual({ lang: "und", confidence: 0 });
    const g = id.detect("Une photo d'un chat noir assis sur la table de la cuisine");
    expect(g.lang).toBe("fr");
    expect(g.confidence).toBeGreaterThan(0);
    expect(g.confidence).toBeLessThanOrEqual(1);
  });

  it("writes one {row, key, lang, confidence} sidecar per shard; LangSidecars looks rows up", async () => {
    const caps = [
      ["a photo of a red dog on the beach", "Ein Foto von einem roten Hund am Strand", null],
      ["一只红色的狗在海滩上玩耍的照片", "Una foto de un perro rojo en la playa", "海辺で遊んでいる赤い犬の写真です"],
    ];
    const shards: Row[][] = caps.map((cs, s) => cs.map((caption, r) => ({ key: `k${s}-${r}`, caption, image: new Uint8Array([1]), width: 1, height: 1 })));
    const dir = writeShards(shards);
    const out = mkdtempSync(path.join(tmpdir(), "clipts-langid-"));
    const r = await langidShards({ shards: dir, output: out, quiet: true });
    expect(r.stats).toMatchObject({ shards: 2, rows: 6, badRows: 1 });
    const lines = readFileSync(path.join(out, langSidecarOf("shard-00001.arrow")), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.row, l.key, l.lang])).toEqual([[0, "k1-0", "zh"], [1, "k1-1", "es"], [2, "k1-2", "ja"]]);
    expect(r.counts).toEqual({ en: 1, de: 1, zh: 1, es: 1, ja: 1 });
    const table = await LangSidecars.open(out);
    expect(table.shards).toEqual(["shard-00000.arrow", "shard-00001.arrow"]);
    expect(table.langOf("shard-00000.arrow", 1)).toBe("de");
    expect(table.langOf("shard-00000.arrow", 2)).toBe("und"); // the row without caption
    expect(table.langOf(path.join(dir, "shard-00001.arrow"), 2)).toBe("ja");
    expect(table.langOf("shard-00001.tar", 1)).toBe("es"); // a tar pool's shard of the same stem
    expect(table.badLines).toBe(0);
    // A confidence floor turns low-confidence labels into und.
    const strict = await LangSidecars.open(out, { minConfidence: 1.01 });
    expect(strict.langOf("shard-00000.arrow", 0)).toBe("und");
    // Corrupt lines are skipped and counted, once per sidecar however often it is read.
    writeFileSync(path.join(out, "extra.lang.jsonl"), '{"row":0,"key":"x","lang":"en"}\nnot json\n');
    const withBad = await LangSidecars.open(out);
    expect(withBad.langOf("extra.arrow", 0)).toBe("en");
    expect(withBad.badLines).toBe(1);
  });

  it("holds a few shards' labels, not the pool's: lookups across many shards read each sidecar again when needed", async () => {
    // 12 sidecars written directly (the format above), each row's language a function of (shard, row).
    const out = mkdtempSync(path.join(tmpdir(), "clipts-langid-many-"));
    const langs = ["en", "de", "fr", "ja", "zh"];
    const truth = (s: number, r: number) => langs[(s * 7 + r * 3) % langs.length]!;
    for (let s = 0; s < 12; s++) {
      const lines = Array.from({ length: 50 }, (_, r) => JSON.stringify({ row: r, key: `k${s}-${r}`, lang: truth(s, r), confidence: 0.9 }));
      if (s === 0) lines.push("not json"); // counted once, however often shard 0 is read again
      writeFileSync(path.join(out, langSidecarOf(`shard-${String(s).padStart(5, "0")}.arrow`)), `${lines.join("\n")}\n`);
    }
    const table = await LangSidecars.open(out);
    // Twice over all shards in order, then in a scattered order: every answer right, never more than the cap held.
    const order = [...Array(12).keys(), ...Array(12).keys(), 11, 0, 5, 0, 11, 3];
    for (const s of order) {
      for (let r = 0; r < 50; r += 7) expect(table.langOf(`shard-${String(s).padStart(5, "0")}.arrow`, r)).toBe(truth(s, r));
      expect(table.cachedShards).toBeLessThanOrEqual(CACHED_LANG_SHARDS);
    }
    expect(table.cachedShards).toBe(CACHED_LANG_SHARDS);
    expect(table.badLines).toBe(1);
    expect(table.langOf("shard-99999.arrow", 0)).toBe("und"); // no sidecar: unknown
  });
});
