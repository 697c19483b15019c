// Matching one batch of rows: a batch of JSONL lines (`curate match` on a
// file) or a batch of captions (shard folders, the ablation runner). Shared by
// the in-process path and the worker threads (match-rows.ts), so both produce
// byte-identical output, and every caption is matched and counted by matchText.
//
// Bad lines: a line without a string "key" cannot be referred to later, so it
// gets no output line (counted as invalidJson / missingKey). A line with a key
// but a bad caption (text missing or not a string, invalid UTF-8) gets an output
// line with no entries: as in MetaCLIP, a bad caption matches nothing. Output
// therefore has exactly one line per input line that has a key, in input order.
import type { Matcher } from "./matcher.js";
import type { LineBatch } from "../lines.js";
import { parseKeyText } from "../fast-json.js";

export interface MatchStats {
  /** Non-blank input lines. */
  lines: number;
  blank: number;
  /** Lines written to the output (lines with a string key). */
  written: number;
  invalidJson: number;
  missingKey: number;
  /** Key present, but "text" missing or not a string. */
  badText: number;
  invalidUtf8: number;
  emptyText: number;
  /** Captions longer than 10,000 UTF-16 units (matched in full; reported because they are unusual). */
  longText: number;
  maxTextLength: number;
  /** Texts with at least one match, and the total number of (text, entry) matches. */
  matched: number;
  matches: number;
  /** First few bad lines, "line N: why". */
  examples: string[];
}

export const MAX_EXAMPLES = 10;
const LONG_TEXT = 10_000;

export function emptyStats(): MatchStats {
  return {
    lines: 0, blank: 0, written: 0, invalidJson: 0, missingKey: 0, badText: 0, invalidUtf8: 0,
    emptyText: 0, longText: 0, maxTextLength: 0, matched: 0, matches: 0, examples: [],
  };
}

export function addStats(into: MatchStats, s: MatchStats): void {
  for (const k of Object.keys(s) as (keyof MatchStats)[]) {
    if (k === "examples" || k === "maxTextLength") continue;
    (into[k] as number) += s[k] as number;
  }
  into.maxTextLength = Math.max(into.maxTextLength, s.maxTextLength);
  into.examples = [...into.examples, ...s.examples]
    .sort((a, b) => Number(a.match(/\d+/)?.[0]) - Number(b.match(/\d+/)?.[0]))
    .slice(0, MAX_EXAMPLES);
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 0xfeff) return false;
  }
  return true;
}

// Decimal strings of entry ids, made once per matcher: number-to-string
// conversion was a visible part of matching time (millions of ids per run).
// The array is filled with undefined up front so it keeps fast (packed) elements.
const idTexts = new WeakMap<Matcher, (string | undefined)[]>();
function idList(ids: ArrayLike<number>, idText: (string | undefined)[]): string {
  let s = "";
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    const t = idText[id] ?? (idText[id] = String(id));
    s += i === 0 ? t : "," + t;
  }
  return s;
}

/** Match one caption: its ascending entry ids; updates the per-entry counts and the text statistics. */
export function matchText(matcher: Matcher, text: string, counts: Float64Array, stats: MatchStats): Uint32Array {
  if (text.length === 0) stats.emptyText++;
  if (text.length > LONG_TEXT) stats.longText++;
  if (text.length > stats.maxTextLength) stats.maxTextLength = text.length;
  const m = matcher.match(text);
  for (let i = 0; i < m.length; i++) counts[m[i]!]!++;
  if (m.length > 0) stats.matched++;
  stats.matches += m.length;
  return m;
}

/** Matches of a batch of captions, flat (row i's ids are ids[offsets[i]..offsets[i+1])) so a worker can transfer them. */
export interface FlatMatches {
  offsets: Uint32Array;
  ids: Uint32Array;
}

/** Match a batch of captions (rows with a usable key and caption; each is one written line). */
export function matchTexts(matcher: Matcher, texts: readonly string[], counts: Float64Array, stats: MatchStats): FlatMatches {
  const offsets = new Uint32Array(texts.length + 1);
  const parts: Uint32Array[] = [];
  let total = 0;
  for (let i = 0; i < texts.length; i++) {
    stats.lines++;
    stats.written++;
    const m = matchText(matcher, texts[i]!, counts, stats);
    parts.push(m);
    total += m.length;
    offsets[i + 1] = total;
  }
  const ids = new Uint32Array(total);
  for (let i = 0; i < parts.length; i++) ids.set(parts[i]!, offsets[i]!);
  return { offsets, ids };
}

/** Match every line of the batch; returns the output JSONL text and updates counts/stats. */
export function matchBatch(matcher: Matcher, batch: LineBatch, counts: Float64Array, stats: MatchStats): string {
  let idText = idTexts.get(matcher);
  if (!idText) idTexts.set(matcher, (idText = new Array<string | undefined>(matcher.size).fill(undefined)));
  let out = "";
  let badIdx = 0;
  const note = (j: number, why: string) => {
    if (stats.examples.length < MAX_EXAMPLES) stats.examples.push(`line ${batch.firstLine + j}: ${why}`);
  };
  for (let j = 0; j < batch.lines.length; j++) {
    const raw = batch.lines[j]!;
    const badUtf8 = batch.badUtf8[badIdx] === j;
    if (badUtf8) badIdx++;
    let v: unknown = parseKeyText(raw);
    if (v === undefined) {
      if (isBlank(raw)) {
        stats.blank++;
        continue;
      }
      try {
        v = JSON.parse(raw);
      } catch {
        stats.lines++;
        stats.invalidJson++;
        note(j, badUtf8 ? "invalid UTF-8 and invalid JSON" : "invalid JSON");
        continue;
      }
    }
    stats.lines++;
    const key = (v !== null && typeof v === "object" ? (v as { key?: unknown }).key : undefined);
    if (typeof key !== "string") {
      stats.missingKey++;
      note(j, `"key" missing or not a string`);
      continue;
    }
    const text = (v as { text?: unknown }).text;
    let ids: ArrayLike<number> = [];
    if (badUtf8) {
      stats.invalidUtf8++;
      note(j, "invalid UTF-8 (caption matches nothing)");
    } else if (typeof text !== "string") {
      stats.badText++;
      note(j, `"text" missing or not a string (caption matches nothing)`);
    } else {
      ids = matchText(matcher, text, counts, stats);
    }
    stats.written++;
    out += `{"key":${JSON.stringify(key)},"entries":[${idList(ids, idText)}]}\n`;
  }
  return out;
}
