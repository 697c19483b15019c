// JSONL tables: one JSON object per line with an image path (or bytes are not
// possible here) and a caption. Bad lines are skipped with their line number.
import path from "node:path";
import { decodeUtf8, InvalidUtf8, type FormatSource, type ReaderItem } from "./common.js";
import { countLines, readLineBytes } from "./lines.js";
import { resolveRowColumns, rowToItem, type TableColumns } from "./table.js";

export async function readJsonlTable(file: string, cols: TableColumns): Promise<FormatSource> {
  return { items: items(file, cols), total: await countLines(file), files: [file] };
}

async function* items(file: string, cols: TableColumns): AsyncGenerator<ReaderItem> {
  for await (const { line, bytes } of readLineBytes(file)) {
    const { text, ok } = decodeUtf8(bytes);
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      yield { key: `${path.basename(file)}:${line}`, skip: "invalid JSON line" };
      continue;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      yield { key: `${path.basename(file)}:${line}`, skip: "JSON line is not an object" };
      continue;
    }
    const values = value as Record<string, unknown>;
    const resolved = resolveRowColumns(file, values, cols);
    if (!ok) {
      // Some field held invalid UTF-8: find which by re-checking the strings'
      // replacement characters against the raw line (only lossy decoding adds them).
      for (const [k, v] of Object.entries(values)) {
        if (typeof v === "string" && v.includes("\uFFFD")) values[k] = new InvalidUtf8(v);
      }
    }
    yield rowToItem(file, { row: line, values }, resolved);
  }
}
