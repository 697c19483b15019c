// Shared mapping from a table row (JSONL object, CSV record, parquet row) to a
// RawItem: which columns hold the key, image, caption, label and language, and
// how image paths resolve (relative to the table's folder).
import path from "node:path";
import { InputError } from "../../util/errors.js";
import { InvalidUtf8, toExtra, toLabel, type ExtraValue, type ReaderItem } from "./common.js";

/** Column names; unset ones are found among the defaults below. */
export interface TableColumns {
  key?: string;
  image?: string;
  caption?: string;
  label?: string;
  lang?: string;
}

export const DEFAULT_COLUMNS: Required<{ [K in keyof TableColumns]: string[] }> = {
  key: ["key", "id", "uid"],
  image: ["image", "image_path", "path", "file", "filepath", "filename", "jpg", "png", "webp"],
  caption: ["caption", "text", "title", "alt"],
  label: ["label"],
  lang: ["lang", "language"],
};

/** Row source of one table file. */
export interface TableRow {
  /** 1-based line (JSONL/CSV) or 0-based row index (parquet), for keys and messages. */
  row: number;
  values?: Record<string, unknown>;
  /** Why the row could not be parsed (invalid JSON, wrong field count...). */
  error?: string;
  /** Key recovered from a row that could not be parsed, if any. */
  key?: string;
}

export type ResolvedColumns = { [K in keyof TableColumns]: string | undefined };

/**
 * Pick the column for each role from the header (CSV, parquet). Explicit
 * names must exist; image and caption columns must be found.
 */
export function resolveColumns(file: string, header: string[], cols: TableColumns): ResolvedColumns {
  const out: ResolvedColumns = { key: undefined, image: undefined, caption: undefined, label: undefined, lang: undefined };
  for (const role of Object.keys(DEFAULT_COLUMNS) as (keyof TableColumns)[]) {
    const explicit = cols[role];
    if (explicit !== undefined) {
      if (!header.includes(explicit)) {
        throw new InputError(`${file}: no column "${explicit}" (--${role}-column); columns are: ${header.join(", ")}`);
      }
      out[role] = explicit;
    } else {
      out[role] = DEFAULT_COLUMNS[role].find((c) => header.includes(c));
    }
  }
  if (out.image === undefined) {
    throw new InputError(`${file}: no image column (tried ${DEFAULT_COLUMNS.image.join(", ")}; set --image-column); columns are: ${header.join(", ")}`);
  }
  if (out.caption === undefined) {
    throw new InputError(`${file}: no caption column (tried ${DEFAULT_COLUMNS.caption.join(", ")}; set --caption-column); columns are: ${header.join(", ")}`);
  }
  return out;
}

/** Turn one table row into a RawItem or a skip. */
export function rowToItem(file: string, r: TableRow, cols: ResolvedColumns): ReaderItem {
  const fallbackKey = `${path.basename(file)}:${r.row}`;
  if (!r.values) return { key: r.key ?? fallbackKey, skip: r.error ?? "unreadable row" };
  const v = r.values;
  const rawKey = cols.key !== undefined ? v[cols.key] : undefined;
  const key = rawKey === null || rawKey === undefined || rawKey === "" ? fallbackKey : String(rawKey);
  if (rawKey instanceof InvalidUtf8) return { key, skip: "invalid UTF-8 key" };

  const item: ReaderItem & { extra: Record<string, ExtraValue> } = { key, extra: {} };
  const img = cols.image !== undefined ? v[cols.image] : undefined;
  if (img instanceof Uint8Array) {
    item.image = img;
  } else if (img && typeof img === "object" && (img as { bytes?: unknown }).bytes instanceof Uint8Array) {
    item.image = (img as { bytes: Uint8Array }).bytes; // Hugging Face datasets' {bytes, path} struct
  } else if (typeof img === "string" && img.trim() !== "") {
    item.imagePath = path.resolve(path.dirname(file), img);
  } else if (img instanceof InvalidUtf8) {
    return { key, skip: "invalid UTF-8 image path" };
  } else {
    return { key, skip: "missing image path" };
  }

  const cap = cols.caption !== undefined ? v[cols.caption] : undefined;
  if (cap instanceof InvalidUtf8) item.captionInvalid = true;
  else if (typeof cap === "string") item.caption = cap;
  else if (typeof cap === "number") item.caption = String(cap);
  else item.caption = null;

  if (cols.label !== undefined && v[cols.label] !== null && v[cols.label] !== undefined && v[cols.label] !== "") {
    const label = toLabel(v[cols.label]);
    if (label === undefined) return { key, skip: `invalid label: ${JSON.stringify(String(v[cols.label]))}` };
    item.label = label;
  }
  if (cols.lang !== undefined && typeof v[cols.lang] === "string" && v[cols.lang] !== "") item.lang = v[cols.lang] as string;

  const used = new Set(Object.values(cols).filter((c): c is string => c !== undefined));
  for (const [name, value] of Object.entries(v)) {
    if (used.has(name) || RESERVED.has(name)) continue;
    const x = toExtra(value);
    if (x !== undefined) item.extra[name] = x;
  }
  return item;
}

/** Names that would collide with the core shard columns. */
const RESERVED = new Set(["key", "caption", "image", "width", "height", "label", "lang"]);

/** Resolve columns per row (JSONL, where rows may differ in their fields). */
export function resolveRowColumns(file: string, values: Record<string, unknown>, cols: TableColumns): ResolvedColumns {
  const header = Object.keys(values);
  const out: ResolvedColumns = { key: undefined, image: undefined, caption: undefined, label: undefined, lang: undefined };
  for (const role of Object.keys(DEFAULT_COLUMNS) as (keyof TableColumns)[]) {
    out[role] = cols[role] ?? DEFAULT_COLUMNS[role].find((c) => header.includes(c));
  }
  void file;
  return out;
}
