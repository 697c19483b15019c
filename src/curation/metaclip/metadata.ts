// Metadata: the list of entries (concepts) that captions are matched against.
// Either the user brings MetaCLIP's metadata.json (a JSON array of strings) or
// we build one from sources the user has, with MetaCLIP's rules.
import { createReadStream, promises as fs, statSync } from "node:fs";
import { createInterface } from "node:readline";
import path from "node:path";
import { MAX_JSON_BYTES, readTextBounded } from "../../util/bounded-read.js";
import { InputError } from "../../util/errors.js";

/** MetaCLIP's thresholds for counted lists. */
export const METADATA_THRESHOLDS = { unigram: 100, bigram: 30, title: 70 } as const;

/** Python's string.punctuation: MetaCLIP drops entries that are one of these. */
const FORBIDDEN = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

/** Read and validate a metadata file: a JSON array of strings. */
export async function loadMetadata(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readTextBounded(file, MAX_JSON_BYTES, "metadata");
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${file}: cannot read metadata (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseMetadata(text, file);
}

export function parseMetadata(text: string, file: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: metadata is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(value)) {
    throw new InputError(`${file}: metadata must be a JSON array of strings, got ${value === null ? "null" : typeof value}`);
  }
  if (value.length === 0) throw new InputError(`${file}: metadata has no entries`);
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== "string") {
      throw new InputError(`${file}: metadata entry at index ${i} is not a string (got ${JSON.stringify(value[i])})`);
    }
    // An empty entry is a substring of every text: it would match the whole pool.
    if ((value[i] as string).trim() === "") throw new InputError(`${file}: metadata entry at index ${i} is empty (it would match every text)`);
  }
  return value as string[];
}

/** Count of lines read and skipped for one source file. */
export interface SourceReport {
  source: "numbers" | "wordnet" | "wordlist" | "unigram" | "bigram" | "title";
  file?: string;
  /** Candidate entries read from the file (after its threshold). */
  read: number;
  /** Entries new to the list (after dedupe). */
  added: number;
  /** Lines that could not be parsed. */
  badLines: number;
  /** Rows below the threshold. */
  belowThreshold: number;
}

export interface MetadataSources {
  /** WordNet data files (data.noun ...) or folders holding data.{noun,verb,adj,adv}. */
  wordnet?: string[];
  /** Plain lists, one entry per line. */
  wordlists?: string[];
  /** `term<TAB>count` lists: unigram counts, bigram PMI, title views. */
  unigrams?: string[];
  bigrams?: string[];
  titles?: string[];
  thresholds?: Partial<Record<keyof typeof METADATA_THRESHOLDS, number>>;
  /** Add "0".."99" (MetaCLIP does). Default true. */
  numbers?: boolean;
}

export interface MetadataResult {
  entries: string[];
  sources: SourceReport[];
}

const WORDNET_FILES = ["data.noun", "data.verb", "data.adj", "data.adv"];

function expandWordnet(p: string): string[] {
  let st;
  try {
    st = statSync(p);
  } catch {
    throw new InputError(`${p}: WordNet path does not exist`);
  }
  return st.isDirectory() ? WORDNET_FILES.map((f) => path.join(p, f)) : [p];
}

async function* lines(file: string): AsyncGenerator<string> {
  const stream = createReadStream(file, { encoding: "utf8" });
  stream.on("error", () => {});
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const l of rl) yield l;
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * Synset names from a WordNet data file, as NLTK's `synset.name()` gives them:
 * the first lemma, lower-cased, without the adjective marker "(a)", "(p)" or
 * "(ip)", with "_" turned into a space. License lines start with two spaces.
 */
export async function readWordnet(file: string): Promise<{ entries: string[]; badLines: number }> {
  const entries: string[] = [];
  let badLines = 0, lineNo = 0, firstBad = 0;
  for await (const l of lines(file)) {
    lineNo++;
    if (l.startsWith("  ") || l.trim() === "") continue;
    const f = l.split(" ");
    // offset lex_filenum ss_type w_cnt word ...
    if (f.length < 5 || !/^\d{8}$/.test(f[0]!) || !/^[nvasr]$/.test(f[2]!) || f[4] === "") {
      badLines++;
      firstBad ||= lineNo;
      continue;
    }
    entries.push(f[4]!.replace(/\((a|p|ip)\)$/, "").toLowerCase().replace(/_/g, " "));
  }
  if (entries.length === 0 && badLines > 0) {
    throw new InputError(`${file}: not a WordNet data file (line ${firstBad} is not a synset line)`);
  }
  return { entries, badLines };
}

/** Plain word list: one entry per line, surrounding whitespace removed. */
export async function readWordList(file: string): Promise<string[]> {
  const out: string[] = [];
  for await (const l of lines(file)) {
    const w = l.trim();
    if (w) out.push(w);
  }
  return out;
}

/** `term<TAB>value` rows with value >= threshold. */
export async function readCountedList(
  file: string,
  threshold: number,
  transform: (term: string) => string | undefined = (t) => t,
): Promise<{ entries: string[]; badLines: number; belowThreshold: number }> {
  const entries: string[] = [];
  let badLines = 0, belowThreshold = 0;
  for await (const l of lines(file)) {
    if (l.trim() === "") continue;
    const tab = l.lastIndexOf("\t");
    const value = tab > 0 ? Number(l.slice(tab + 1).trim()) : NaN;
    if (!Number.isFinite(value)) {
      badLines++;
      continue;
    }
    if (value < threshold) {
      belowThreshold++;
      continue;
    }
    const term = transform(l.slice(0, tab).trim());
    if (term !== undefined) entries.push(term);
  }
  return { entries, badLines, belowThreshold };
}

/**
 * Build the entry list in MetaCLIP's order: "0".."99", WordNet synsets, word
 * lists, unigrams (count >= 100), bigrams (PMI >= 30), Wikipedia titles
 * (views >= 70; "_" -> space, titles with ":" skipped as MetaCLIP does).
 * Empty entries and single punctuation marks are dropped; duplicates keep
 * their first position.
 */
export async function buildMetadata(src: MetadataSources): Promise<MetadataResult> {
  const th = { ...METADATA_THRESHOLDS, ...src.thresholds };
  const seen = new Set<string>();
  const entries: string[] = [];
  const sources: SourceReport[] = [];
  const add = (report: Omit<SourceReport, "added">, list: string[]) => {
    let added = 0;
    for (const e of list) {
      if (e.length === 0 || FORBIDDEN.has(e) || seen.has(e)) continue;
      seen.add(e);
      entries.push(e);
      added++;
    }
    sources.push({ ...report, added });
  };
  if (src.numbers !== false) {
    add({ source: "numbers", read: 100, badLines: 0, belowThreshold: 0 }, Array.from({ length: 100 }, (_, i) => String(i)));
  }
  for (const file of (src.wordnet ?? []).flatMap(expandWordnet)) {
    const r = await readWordnet(file);
    add({ source: "wordnet", file, read: r.entries.length, badLines: r.badLines, belowThreshold: 0 }, r.entries);
  }
  for (const file of src.wordlists ?? []) {
    const r = await readWordList(file);
    add({ source: "wordlist", file, read: r.length, badLines: 0, belowThreshold: 0 }, r);
  }
  const counted: [SourceReport["source"], string[] | undefined, number, ((t: string) => string | undefined)?][] = [
    ["unigram", src.unigrams, th.unigram],
    ["bigram", src.bigrams, th.bigram],
    ["title", src.titles, th.title, (t) => (t.includes(":") ? undefined : t.replace(/_/g, " "))],
  ];
  for (const [source, files, threshold, transform] of counted) {
    for (const file of files ?? []) {
      const r = await readCountedList(file, threshold, transform);
      add({ source, file, read: r.entries.length, badLines: r.badLines, belowThreshold: r.belowThreshold }, r.entries);
    }
  }
  return { entries, sources };
}
