// What every input reader yields: raw items (bytes or a path, a caption that
// may be missing or undecodable, metadata) or a skip with its key and reason.
// Checking captions and decoding images happens once, in ingest.ts.
import type { FileSpan } from "../types.js";

/** The input formats `clipts data ingest` reads ("auto": decided from the paths). */
export const INGEST_FORMATS = ["auto", "wds", "folder", "jsonl", "csv", "parquet"] as const;
export type IngestFormat = (typeof INGEST_FORMATS)[number];

export type ExtraValue = string | number | null;

export interface RawItem {
  key: string;
  /** Encoded image bytes, when the source holds them (tar member, parquet binary column). */
  image?: Uint8Array;
  /** Absolute path of the image file, when the source points at one. */
  imagePath?: string;
  /** Where `image` lies in a local file (a tar's member), for readers that read it again there. */
  imageAt?: FileSpan;
  /** Caption; undefined or null when absent. */
  caption?: string | null;
  /** Set when the caption bytes are not valid UTF-8. */
  captionInvalid?: boolean;
  label?: number;
  lang?: string;
  extra?: Record<string, ExtraValue>;
}

/** An item the reader could not turn into a RawItem. */
export interface SkipItem {
  key: string;
  skip: string;
}

export type ReaderItem = RawItem | SkipItem;

export function isSkip(item: ReaderItem): item is SkipItem {
  return (item as SkipItem).skip !== undefined;
}

/** What a format reader hands to ingest. */
export interface FormatSource {
  items: AsyncIterable<ReaderItem>;
  /** Expected number of items, for the progress bar (0 when unknown). */
  total: number;
  /** Class names (index = label) for class-folder inputs. */
  classes?: string[];
  /** Input files read, for the manifest. */
  files: string[];
}

/**
 * Largest caption file or non-image tar member (.txt, .json, .cls) read. A
 * bigger one is skipped and counted, never buffered whole (a 1.5 GiB .txt
 * member used to be read and decoded into one string: ERR_STRING_TOO_LONG).
 */
export const MAX_TEXT_MEMBER_BYTES = 16 * 2 ** 20;

/** Image file extensions recognised in folders and tar members (lower case, no dot). */
export const IMAGE_EXTENSIONS = new Set(["jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "avif"]);

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lossyUtf8 = new TextDecoder("utf-8");

/** Decode UTF-8 strictly; `ok` is false (and `text` lossy) for invalid bytes. */
export function decodeUtf8(bytes: Uint8Array): { text: string; ok: boolean } {
  try {
    return { text: strictUtf8.decode(bytes), ok: true };
  } catch {
    return { text: lossyUtf8.decode(bytes), ok: false };
  }
}

/** A string column value whose bytes were not valid UTF-8 (parquet, CSV). */
export class InvalidUtf8 {
  constructor(readonly lossy: string) {}
  toString(): string {
    return this.lossy;
  }
}

/**
 * Turn a metadata value into an extra column value: strings and finite numbers
 * stay, booleans become 0/1, bigints become numbers, objects become JSON text.
 * Binary values are dropped (undefined): extras are utf8 or float64 only.
 */
export function toExtra(v: unknown): ExtraValue | undefined {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "bigint") return Number(v);
  if (v instanceof InvalidUtf8) return v.lossy;
  if (v instanceof Uint8Array) return undefined;
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x));
}

/** Integer label from a number or an integer string; undefined when not one. */
export function toLabel(v: unknown): number | undefined {
  if (typeof v === "bigint") v = Number(v);
  if (typeof v === "string" && /^-?\d+$/.test(v.trim())) v = Number(v.trim());
  if (typeof v === "number" && Number.isInteger(v) && Math.abs(v) < 2 ** 31) return v;
  return undefined;
}

/** File extension, lower case, without the dot. */
export function extOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
}
