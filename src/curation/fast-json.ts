// A fast path for the JSONL lines curation reads: a flat object whose values
// are strings without escapes, e.g. {"key": "k1", "text": "a red car"}.
// JSON.parse is the bulk of matching time otherwise. The scanner accepts a line
// only when JSON.parse would give the same "key" and "text"; anything else
// (escapes, non-string values, odd whitespace, "__proto__", invalid JSON)
// returns undefined and the caller uses JSON.parse. A fuzz test checks this.

/** Backslash and control characters other than \t and \r (those two are checked per string below). */
const NEEDS_FULL_PARSER = /[\\\x00-\x08\x0a-\x0c\x0e-\x1f]/;
/** \t and \r are whitespace between tokens but invalid raw inside a string. */
const TAB_CR = /[\t\r]/;

function ws(line: string, i: number): number {
  for (;;) {
    const c = line.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13) i++;
    else return i;
  }
}

export interface KeyText {
  key: unknown;
  text: unknown;
}

/** {key, text} of a flat object of plain strings, or undefined: "use JSON.parse". */
export function parseKeyText(line: string): KeyText | undefined {
  if (NEEDS_FULL_PARSER.test(line)) return undefined;
  const tabOrCr = TAB_CR.test(line);
  let i = ws(line, 0);
  if (line.charCodeAt(i) !== 123 /* { */) return undefined;
  i = ws(line, i + 1);
  const out: KeyText = { key: undefined, text: undefined };
  if (line.charCodeAt(i) === 125 /* } */) return ws(line, i + 1) === line.length ? out : undefined;
  for (;;) {
    if (line.charCodeAt(i) !== 34 /* " */) return undefined;
    const nameEnd = line.indexOf('"', i + 1);
    if (nameEnd < 0) return undefined;
    const nameStart = i + 1;
    i = ws(line, nameEnd + 1);
    if (line.charCodeAt(i) !== 58 /* : */) return undefined;
    i = ws(line, i + 1);
    if (line.charCodeAt(i) !== 34) return undefined; // not a string value
    const valueEnd = line.indexOf('"', i + 1);
    if (valueEnd < 0) return undefined;
    if (tabOrCr && (TAB_CR.test(line.slice(nameStart, nameEnd)) || TAB_CR.test(line.slice(i + 1, valueEnd)))) return undefined;
    const nameLen = nameEnd - nameStart;
    if (nameLen === 3 && line.startsWith("key", nameStart)) out.key = line.slice(i + 1, valueEnd);
    else if (nameLen === 4 && line.startsWith("text", nameStart)) out.text = line.slice(i + 1, valueEnd);
    else if (nameLen === 9 && line.startsWith("__proto__", nameStart)) return undefined;
    i = ws(line, valueEnd + 1);
    const c = line.charCodeAt(i);
    if (c === 44 /* , */) {
      i = ws(line, i + 1);
      continue;
    }
    if (c === 125) return ws(line, i + 1) === line.length ? out : undefined;
    return undefined;
  }
}
