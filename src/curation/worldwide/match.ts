// Per-language metadata and matching (MetaCLIP 2 "worldwide" curation).
//
// Metadata is {lang: [entries]}: one JSON object of arrays, or a folder of
// `<lang>.json` files (each a JSON array of strings). A caption is matched only
// against its own language's entries (the language from langid sidecars).
//
// Two semantics, chosen by the language:
// - spaced languages: MetaCLIP's rule (matcher.ts: " e " occurs in the spaced
//   caption), with the CJK punctuation 、。，．：；？！「」『』（） joining
//   MetaCLIP's , . ; : ? ! ` as marks that get a space on each side. We wrap
//   those marks in spaces before handing the caption to the word automaton;
//   since spacing only inserts spaces around each occurrence of a mark, doing
//   it in two steps gives the same spaced string as one step over the union.
// - languages written without spaces (zh, ja, th, lo, km, my): entry e matches
//   when e occurs anywhere in the caption as a plain substring (no word
//   boundaries; overlaps count), found with a character-level Aho–Corasick.
import { existsSync, promises as fs, statSync } from "node:fs";
import path from "node:path";
import { InputError } from "../../util/errors.js";
import { buildMatcher, type Matcher } from "../metaclip/matcher.js";
import { parseMetadata } from "../metaclip/metadata.js";

/** Languages written without spaces between words (ISO 639-1). */
export const NO_SPACE_LANGS: ReadonlySet<string> = new Set(["zh", "ja", "th", "lo", "km", "my"]);

/** CJK punctuation that gets a space on each side in spaced languages. */
export const CJK_PUNCT = "、。，．：；？！「」『』（）";
const CJK_SET = new Set(CJK_PUNCT);

/** Base subtag: "zh-hant" -> "zh", "pt_BR" -> "pt". */
export function baseLang(lang: string): string {
  return lang.toLowerCase().split(/[-_]/)[0]!;
}

export function isNoSpaceLang(lang: string): boolean {
  return NO_SPACE_LANGS.has(baseLang(lang));
}

/** Per-language metadata. */
export type WorldwideMetadata = Record<string, string[]>;

/** Load {lang: [entries]} from one JSON file or a folder of `<lang>.json` arrays. */
export async function loadWorldwideMetadata(file: string): Promise<WorldwideMetadata> {
  if (!existsSync(file)) throw new InputError(`${file}: worldwide metadata not found`);
  if (statSync(file).isDirectory()) {
    const names = (await fs.readdir(file)).filter((n) => n.endsWith(".json")).sort();
    if (names.length === 0) throw new InputError(`${file}: no <lang>.json metadata files in this folder`);
    const out: WorldwideMetadata = {};
    for (const n of names) out[n.slice(0, -5)] = parseMetadata(await fs.readFile(path.join(file, n), "utf8"), path.join(file, n));
    return out;
  }
  return parseWorldwideMetadata(await fs.readFile(file, "utf8"), file);
}

export function parseWorldwideMetadata(text: string, file: string): WorldwideMetadata {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: worldwide metadata is not valid JSON (${(err as Error).message})`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new InputError(`${file}: worldwide metadata must be a JSON object {lang: [entries]}, got ${Array.isArray(v) ? "an array" : typeof v}`);
  }
  const out: WorldwideMetadata = {};
  for (const [lang, entries] of Object.entries(v as Record<string, unknown>)) {
    if (!/^[A-Za-z]{2,3}([-_][A-Za-z0-9]+)*$/.test(lang)) throw new InputError(`${file}: key "${lang}" is not a language code`);
    if (!Array.isArray(entries)) throw new InputError(`${file}: ${lang} must be an array of strings`);
    entries.forEach((e, i) => {
      if (typeof e !== "string") throw new InputError(`${file}: ${lang}[${i}] is not a string (got ${JSON.stringify(e)})`);
    });
    out[lang] = entries as string[];
  }
  if (Object.keys(out).length === 0) throw new InputError(`${file}: worldwide metadata has no languages`);
  return out;
}

/** Wrap each CJK punctuation mark in spaces (then MetaCLIP's spacing applies as usual). */
export function spaceCjkPunct(text: string): string {
  let out = "";
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    if (CJK_SET.has(text[i]!)) {
      out += `${text.slice(last, i)} ${text[i]} `;
      last = i + 1;
    }
  }
  return last === 0 ? text : out + text.slice(last);
}

/** MetaCLIP matching plus CJK punctuation as separators. */
export function buildSpacedMatcher(entries: readonly string[]): Matcher {
  const m = buildMatcher(entries);
  return {
    size: m.size, states: m.states, words: m.words, bytes: m.bytes,
    match: (text: string) => m.match(spaceCjkPunct(text)),
  };
}

/**
 * Plain-substring matcher: entry e matches when text.includes(e). Character
 * Aho–Corasick over UTF-16 units (a surrogate pair is two steps, which is
 * exact for substring tests). Empty entries never match.
 */
export function buildSubstringMatcher(entries: readonly string[]): Matcher {
  // Trie: children per state in a Map keyed by char code.
  const next: Map<number, number>[] = [new Map()];
  const out: number[][] = [[]];
  entries.forEach((e, id) => {
    if (e.length === 0) return;
    let s = 0;
    for (let i = 0; i < e.length; i++) {
      const c = e.charCodeAt(i);
      let t = next[s]!.get(c);
      if (t === undefined) {
        t = next.length;
        next.push(new Map());
        out.push([]);
        next[s]!.set(c, t);
      }
      s = t;
    }
    out[s]!.push(id);
  });
  // Fail links breadth-first; dict links point to the nearest suffix state with outputs.
  const fail = new Int32Array(next.length), dict = new Int32Array(next.length).fill(-1);
  const queue: number[] = [];
  for (const t of next[0]!.values()) queue.push(t);
  for (let q = 0; q < queue.length; q++) {
    const s = queue[q]!;
    for (const [c, t] of next[s]!) {
      let f = fail[s]!;
      while (f !== 0 && !next[f]!.has(c)) f = fail[f]!;
      const g = next[f]!.get(c);
      fail[t] = g !== undefined && g !== t ? g : 0;
      dict[t] = out[fail[t]!]!.length > 0 ? fail[t]! : dict[fail[t]!]!;
      queue.push(t);
    }
  }
  const stamp = new Uint32Array(entries.length);
  let epoch = 0;
  return {
    size: entries.length,
    states: next.length,
    words: 0,
    bytes: next.length * 8,
    match(text: string): Uint32Array {
      if (++epoch === 0xffffffff) {
        stamp.fill(0);
        epoch = 1;
      }
      const found: number[] = [];
      let s = 0;
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        let t = next[s]!.get(c);
        while (t === undefined && s !== 0) {
          s = fail[s]!;
          t = next[s]!.get(c);
        }
        s = t ?? 0;
        for (let o = out[s]!.length > 0 ? s : dict[s]!; o > 0; o = dict[o]!) {
          for (const id of out[o]!) {
            if (stamp[id] !== epoch) {
              stamp[id] = epoch;
              found.push(id);
            }
          }
        }
      }
      return Uint32Array.from(found).sort();
    },
  };
}

/** One matcher per language of the metadata, with the semantics of that language. */
export class WorldwideMatcher {
  private readonly matchers = new Map<string, Matcher>();
  constructor(readonly metadata: WorldwideMetadata) {
    for (const [lang, entries] of Object.entries(metadata)) {
      this.matchers.set(lang, isNoSpaceLang(lang) ? buildSubstringMatcher(entries) : buildSpacedMatcher(entries));
    }
  }
  get languages(): string[] {
    return [...this.matchers.keys()];
  }
  has(lang: string): boolean {
    return this.matchers.has(lang);
  }
  /** Ids (into metadata[lang]) of the entries matching the caption; empty for a language without metadata. */
  match(text: string, lang: string): Uint32Array {
    const m = this.matchers.get(lang);
    return m ? m.match(text) : new Uint32Array(0);
  }
}
