// CSV tables (RFC 4180: quoted fields, "" escapes, newlines inside quotes,
// CRLF). Parsed on bytes: the delimiter, quote and newline are ASCII and never
// occur inside a UTF-8 multi-byte sequence, so fields can be decoded strictly.
import { createReadStream } from "node:fs";
import path from "node:path";
import { InputError } from "../../util/errors.js";
import { decodeUtf8, InvalidUtf8, type FormatSource, type ReaderItem } from "./common.js";
import { countLines } from "./lines.js";
import { resolveColumns, rowToItem, type ResolvedColumns, type TableColumns } from "./table.js";

const QUOTE = 34;
const LF = 10;
const CR = 13;

/** Bytes of one CSV record kept at most; a longer record (an unterminated quote, usually) is skipped without growing memory. */
export const MAX_CSV_RECORD_BYTES = 4 * 2 ** 20;

/**
 * Yield records as arrays of field bytes, with the 1-based line each starts on.
 * Quotes follow RFC 4180: a quote opens a quoted field only at the field's
 * start (elsewhere it is a literal character, as in Python's csv module), `""`
 * inside a quoted field is one quote, and text after a closing quote makes
 * that row bad (reported alone; the next line starts a new row). A record over
 * `maxRecordBytes` stops being buffered and is reported with the lines it spans.
 */
export async function* readCsvRecords(
  file: string,
  delimiter = 44,
  maxRecordBytes = MAX_CSV_RECORD_BYTES,
): AsyncGenerator<{ line: number; fields: Uint8Array[]; error?: string }> {
  let field: number[] = [];
  let fields: Uint8Array[] = [];
  let recordBytes = 0;
  // start: nothing read in this field; plain: unquoted field; quoted: inside quotes; closed: just after a closing quote.
  let state: "start" | "plain" | "quoted" | "closed" = "start";
  let bad: string | undefined;
  let line = 1;
  let recordLine = 1;
  const push = (c: number) => {
    if (bad) return;
    if (++recordBytes > maxRecordBytes) {
      bad = `bad CSV row: record over ${maxRecordBytes} bytes (unterminated quote?)`;
      field = [];
      fields = [];
      return;
    }
    field.push(c);
  };
  const endField = () => {
    if (!bad) fields.push(Uint8Array.from(field));
    field = [];
    state = "start";
  };
  const endRecord = (): { line: number; fields: Uint8Array[]; error?: string } => {
    const r = bad
      ? { line: recordLine, fields: [], error: line > recordLine ? `${bad} (lines ${recordLine}-${line})` : bad }
      : { line: recordLine, fields };
    fields = [];
    field = [];
    recordBytes = 0;
    bad = undefined;
    state = "start";
    return r;
  };
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      const b = chunk as Buffer;
      const out: { line: number; fields: Uint8Array[]; error?: string }[] = [];
      for (let i = 0; i < b.length; i++) {
        const c = b[i];
        if (state === "quoted") {
          if (c === QUOTE) state = "closed";
          else {
            if (c === LF) line++;
            push(c);
          }
          continue;
        }
        if (state === "closed" && c === QUOTE) {
          push(QUOTE); // "" inside a quoted field
          state = "quoted";
          continue;
        }
        if (c === delimiter) {
          endField();
          continue;
        }
        if (c === LF) {
          if (state !== "closed" && field.length && field[field.length - 1] === CR) field.pop();
          const empty = state === "start" && fields.length === 0 && !bad;
          if (!empty) {
            endField();
            out.push(endRecord());
          }
          line++;
          recordLine = line;
          state = "start";
          continue;
        }
        if (state === "start" && c === QUOTE) {
          state = "quoted";
          continue;
        }
        if (state === "closed") {
          if (c === CR) continue; // CRLF after a closing quote
          bad ??= "bad CSV row: text after a closing quote";
        }
        state = "plain";
        push(c);
      }
      for (const r of out) yield r;
    }
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (state === "quoted") {
    bad ??= "bad CSV row: unterminated quoted field at end of file";
    yield endRecord();
    return;
  }
  if (state !== "closed" && field.length && field[field.length - 1] === CR) field.pop();
  if (!(state === "start" && fields.length === 0 && !bad)) {
    endField();
    yield endRecord();
  }
}

/** Numbers that print back to the same text become float64; the rest stay text. */
function csvValue(bytes: Uint8Array): unknown {
  const { text, ok } = decodeUtf8(bytes);
  if (!ok) return new InvalidUtf8(text);
  const t = text.trim();
  if (t !== "" && /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t) && String(Number(t)) === t) return Number(t);
  return text;
}

export async function readCsvTable(file: string, cols: TableColumns, delimiter = ","): Promise<FormatSource> {
  if (delimiter.length !== 1 || delimiter.charCodeAt(0) > 127) throw new InputError(`--delimiter must be one ASCII character, got ${JSON.stringify(delimiter)}`);
  const records = readCsvRecords(file, delimiter.charCodeAt(0));
  const first = await records.next();
  if (first.done || first.value.error) throw new InputError(`${file}: no CSV header row`);
  const header = first.value.fields.map((f) => {
    const { text, ok } = decodeUtf8(f);
    if (!ok) throw new InputError(`${file}:1: header is not valid UTF-8`);
    return text.replace(/^\uFEFF/, "").trim();
  });
  const resolved = resolveColumns(file, header, cols);
  const total = Math.max(0, (await countLines(file)) - 1);
  return { items: items(file, header, resolved, records), total, files: [file] };
}

async function* items(file: string, header: string[], cols: ResolvedColumns, records: AsyncGenerator<{ line: number; fields: Uint8Array[]; error?: string }>): AsyncGenerator<ReaderItem> {
  const keyIndex = cols.key !== undefined ? header.indexOf(cols.key) : -1;
  for await (const rec of records) {
    const guessKey = keyIndex >= 0 && rec.fields[keyIndex] ? decodeUtf8(rec.fields[keyIndex]).text : undefined;
    if (rec.error) {
      yield { key: guessKey ?? `${path.basename(file)}:${rec.line}`, skip: rec.error };
      continue;
    }
    if (rec.fields.length !== header.length) {
      yield { key: guessKey ?? `${path.basename(file)}:${rec.line}`, skip: `bad CSV row: ${rec.fields.length} fields, header has ${header.length}` };
      continue;
    }
    const values: Record<string, unknown> = {};
    header.forEach((h, i) => {
      // Key, image path and caption stay text even when they look numeric.
      const raw = rec.fields[i];
      if (h === cols.key || h === cols.image || h === cols.caption || h === cols.lang) {
        const { text, ok } = decodeUtf8(raw);
        values[h] = ok ? text : new InvalidUtf8(text);
      } else {
        values[h] = csvValue(raw);
      }
    });
    // An empty cell is "no value".
    for (const h of header) if (values[h] === "") values[h] = null;
    yield rowToItem(file, { row: rec.line, values }, cols);
  }
}
