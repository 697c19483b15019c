// Worldwide curation: per-language metadata, no-space (substring) matching for
// zh/ja/th/..., CJK punctuation as separators for spaced languages, thresholds
// that keep English's tail share, and the shard pipeline end to end.
import { mergeSelections, openSelection, type ShardSelection } from "../../src/formats/selection.js";
import { describe, expect, it } from "vitest";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { spaceText } from "../../src/curation/metaclip/matcher.js";
import { balanceKeep, pToT, tToP } from "../../src/curation/metaclip/balance.js";
import {
  buildSpacedMatcher, buildSubstringMatcher, CJK_PUNCT, isNoSpaceLang, loadWorldwideMetadata, parseWorldwideMetadata, WorldwideMatcher,
} from "../../src/curation/worldwide/match.js";
import { worldwideThresholds } from "../../src/curation/worldwide/thresholds.js";
import { langidShards } from "../../src/curation/worldwide/langid.js";
import { worldwideCurate } from "../../src/curation/worldwide/curate.js";
import { Rng } from "../../src/util/hash.js";
import { writeShards, type Row } from "../data/loader-fixtures.js";

const tmp = () => mkdtempSync(path.join(tmpdir(), "clipts-ww-"));

/** Brute force: every entry tested with String.includes. */
function bruteSubstring(entries: string[], text: string): number[] {
  return entries.flatMap((e, i) => (e.length > 0 && text.includes(e) ? [i] : []));
}

/** Reference for spaced languages: MetaCLIP's spacing over , . ; : ? ! ` plus the CJK marks, then " e " substring. */
function bruteSpaced(entries: string[], text: string): number[] {
  let s = spaceText(text);
  for (const p of CJK_PUNCT) s = s.split(p).join(` ${p} `);
  return entries.flatMap((e, i) => (s.includes(` ${e} `) ? [i] : []));
}

describe("no-space matching (zh, ja, th, ...)", () => {
  it("equals String.includes over random CJK text, overlaps and nested entries included", () => {
    const alphabet = "猫犬赤い白黒の写真海辺で遊ぶ子供一只狗在";
    const rng = new Rng(7);
    const word = (n: number) => Array.from({ length: n }, () => alphabet[rng.int(alphabet.length)]).join("");
    const entries = [...Array.from({ length: 60 }, () => word(1 + rng.int(4))), "猫", "猫猫", "赤い猫", "い猫", "", "🐱猫"];
    const m = buildSubstringMatcher(entries);
    for (let k = 0; k < 400; k++) {
      const text = word(rng.int(30)) + (k % 7 === 0 ? "🐱猫" : "");
      expect(Array.from(m.match(text))).toEqual(bruteSubstring(entries, text));
    }
    // No word boundaries: an entry inside a longer run matches.
    expect(Array.from(buildSubstringMatcher(["東京"]).match("東京タワーの写真"))).toEqual([0]);
  });

  it("knows which languages are written without spaces", () => {
    for (const l of ["zh", "ja", "th", "lo", "km", "my", "zh-hant", "zh_TW"]) expect(isNoSpaceLang(l)).toBe(true);
    for (const l of ["en", "de", "ko", "vi", "hi"]) expect(isNoSpaceLang(l)).toBe(false);
  });
});

describe("spaced matching with CJK punctuation", () => {
  it("equals MetaCLIP's spacing with the CJK marks added, on random text", () => {
    const toks = ["cat", "dog", "big cat", "chat", "noir", "、", "。", "，", "「", "」", "（", "）", "！", "?", ".", " ", "  ", "：", "；", "『", "』", "．", "？"];
    const entries = ["cat", "dog", "big cat", "chat noir", "cat dog", "chat", "noir"];
    const rng = new Rng(11);
    const m = buildSpacedMatcher(entries);
    for (let k = 0; k < 500; k++) {
      const text = Array.from({ length: rng.int(12) }, () => toks[rng.int(toks.length)]).join(rng.int(2) ? " " : "");
      expect(Array.from(m.match(text))).toEqual(bruteSpaced(entries, text));
    }
    expect(Array.from(m.match("「chat noir」、dog。"))).toEqual([1, 3, 5, 6]);
    expect(Array.from(m.match("chatnoir"))).toEqual([]); // word boundaries still hold
  });
});

describe("per-language metadata", () => {
  it("reads one {lang: [entries]} object or a folder of <lang>.json, and names bad keys", async () => {
    expect(parseWorldwideMetadata('{"en":["cat"],"ja":["猫"]}', "m.json")).toEqual({ en: ["cat"], ja: ["猫"] });
    expect(() => parseWorldwideMetadata('["cat"]', "m.json")).toThrow(/m\.json: .*JSON object/);
    expect(() => parseWorldwideMetadata('{"en":["cat",3]}', "m.json")).toThrow(/m\.json: en\[1\] is not a string/);
    expect(() => parseWorldwideMetadata('{"english!":["cat"]}', "m.json")).toThrow(/not a language code/);
    const dir = tmp();
    mkdirSync(path.join(dir, "meta"));
    writeFileSync(path.join(dir, "meta", "en.json"), '["cat"]');
    writeFileSync(path.join(dir, "meta", "zh.json"), '["猫"]');
    expect(await loadWorldwideMetadata(path.join(dir, "meta"))).toEqual({ en: ["cat"], zh: ["猫"] });
  });

  it("matches each caption with its own language's entries", () => {
    const m = new WorldwideMatcher({ en: ["cat", "black cat"], ja: ["猫", "黒猫"], de: ["katze"] });
    expect(Array.from(m.match("a black cat", "en"))).toEqual([0, 1]);
    expect(Array.from(m.match("黒猫の写真", "ja"))).toEqual([0, 1]);
    expect(Array.from(m.match("a black cat", "de"))).toEqual([]);
    expect(Array.from(m.match("黒猫", "zh"))).toEqual([]); // no zh metadata
  });
});

describe("per-language thresholds", () => {
  it("give every language the tail share English keeps at t_en (float check against tToP)", () => {
    const rng = new Rng(3);
    // Zipf-like counts of different sizes per language.
    const zipf = (n: number, scale: number) => Array.from({ length: n }, (_, i) => Math.max(0, Math.round(scale / (i + 1) ** 1.1 + rng.int(3))));
    const counts = { en: zipf(3000, 50000), de: zipf(800, 6000), ja: zipf(500, 3000), sw: zipf(60, 40) };
    const r = worldwideThresholds(counts, 200);
    expect(r.p).toBe(tToP(counts.en, 200));
    expect(r.t.en).toBe(200);
    for (const l of ["de", "ja", "sw"] as const) {
      expect(r.t[l]).toBe(Math.max(1, pToT(counts[l], r.p)));
      // The chosen t is the count whose cumulative share is nearest p; the tail
      // share at t + 1 (so entries with count == t are in the tail) brackets p.
      const below = tToP(counts[l], r.t[l]!), upTo = tToP(counts[l], r.t[l]! + 1e-9);
      expect(below).toBeLessThanOrEqual(r.p + 1e-12);
      expect(Math.abs(upTo - r.p)).toBeLessThanOrEqual(Math.max(...counts[l]) / counts[l].reduce((a, b) => a + b, 0) + 1e-12);
    }
    expect(worldwideThresholds({ en: [5, 1], xx: [0, 0] }, 2).empty).toEqual(["xx"]);
    expect(() => worldwideThresholds({ de: [1] }, 2)).toThrow(/reference language "en"/);
  });
});

describe("worldwide curation on shards", () => {
  it("labels, matches per language, balances with per-language thresholds", async () => {
    const caps: [string, string][] = [
      ["en", "a photo of a black cat sitting on the sofa"], ["en", "a black cat and a white dog in the garden"],
      ["en", "a photo of a cat sleeping in the sun"], ["en", "a red car parked on the street"],
      ["de", "Ein Foto von einer schwarzen Katze auf dem Sofa"], ["de", "Eine Katze und ein Hund im Garten"],
      ["ja", "ソファの上に座っている黒猫の写真です"], ["ja", "庭で遊んでいる猫と犬の写真です"],
      ["zh", "一只黑猫坐在沙发上的照片"], ["zh", "花园里的猫和狗在玩耍"],
    ];
    const rows: Row[] = caps.map(([, c], i) => ({ key: `k${i}`, caption: c, image: new Uint8Array([1]), width: 1, height: 1 }));
    const dir = writeShards([rows.slice(0, 5), rows.slice(5)]);
    const work = tmp();
    const meta = path.join(work, "meta.json");
    const metadata = { en: ["cat", "dog", "car", "photo", "black cat"], de: ["Katze", "Hund", "Foto"], ja: ["猫", "犬", "黒猫", "写真"], zh: ["猫", "狗", "黑猫"] };
    writeFileSync(meta, JSON.stringify(metadata));
    const langs = path.join(work, "langs");
    const lr = await langidShards({ shards: dir, output: langs, quiet: true });
    expect(lr.counts).toEqual({ en: 4, de: 2, ja: 2, zh: 2 });
    const out = path.join(work, "out");
    const r = await worldwideCurate({ metadata: meta, shards: dir, langs, output: out, tEn: 2, seed: 0, quiet: true });
    // Counts per language, from the language's own matcher.
    const wm = new WorldwideMatcher(metadata);
    for (const [lang, entries] of Object.entries(metadata)) {
      const expected = new Float64Array(entries.length);
      caps.forEach(([l, c]) => { if (l === lang) for (const e of wm.match(c, l)) expected[e]!++; });
      expect(Array.from(r.counts[lang]!)).toEqual(Array.from(expected));
    }
    expect(r.thresholds!.p).toBe(tToP(r.counts.en!, 2));
    // Kept rows = MetaCLIP's rule per language with that language's counts and t.
    const sel: Record<string, number[]> = {};
    caps.forEach(([l, c], i) => {
      const ids = wm.match(c, l);
      if (ids.length > 0 && balanceKeep(`k${i}`, ids, r.counts[l]!, r.thresholds!.t[l]!, 0)) {
        (sel[i < 5 ? "shard-00000.arrow" : "shard-00001.arrow"] ??= []).push(i < 5 ? i : i - 5);
      }
    });
    expect((openSelection(r.files.selection!) as ShardSelection).toRecord()).toEqual(sel);
    expect(r.perLang.en).toMatchObject({ rows: 4, matched: 4 });

    // The same curation as a job array of 2 parts: match every part, then balance every part, then join.
    const jobs = path.join(work, "jobs");
    const part = (index: number, phase: "match" | "balance") =>
      worldwideCurate({ metadata: meta, shards: dir, langs, output: jobs, tEn: 2, seed: 0, shard: { index, count: 2 }, phase, quiet: true });
    expect((await part(0, "match")).thresholds).toBeUndefined();
    await expect(part(0, "balance")).rejects.toThrow(/entry_counts\.en\.1-of-2\.json: missing; every part must finish --phase match/);
    await part(1, "match");
    const b0 = await part(0, "balance"), b1 = await part(1, "balance");
    expect(b0.thresholds).toEqual(r.thresholds);
    expect(b1.thresholds).toEqual(r.thresholds);
    for (const l of Object.keys(metadata)) expect(Array.from(b0.counts[l]!)).toEqual(Array.from(r.counts[l]!));
    expect(b0.files.selection).toBe(path.join(jobs, "selection-0-of-2"));
    const joined = await mergeSelections([b0.files.selection!, b1.files.selection!], path.join(jobs, "selection"));
    expect(joined.toRecord()).toEqual(sel);
    for (const l of Object.keys(r.perLang)) expect((b0.perLang[l]?.kept ?? 0) + (b1.perLang[l]?.kept ?? 0)).toBe(r.perLang[l]!.kept);
    await expect(worldwideCurate({ metadata: meta, shards: dir, langs, output: jobs, tEn: 2, seed: 0, shard: { index: 0, count: 2 } })).rejects.toThrow(/--shard needs --phase match/);
  });

  it("fails before work on a bad t_en or a missing reference language", async () => {
    const work = tmp();
    const meta = path.join(work, "m.json");
    writeFileSync(meta, '{"de":["Katze"]}');
    await expect(worldwideCurate({ metadata: meta, shards: work, langs: work, output: work, tEn: 0, seed: 0 })).rejects.toThrow(/--t-en/);
    await expect(worldwideCurate({ metadata: meta, shards: work, langs: work, output: work, tEn: 5, seed: 0 })).rejects.toThrow(/reference language "en"/);
  });
});
