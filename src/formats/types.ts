// The rows of Arrow shards and the manifest of a shard folder: written by
// ingest, read by curation-on-shards, the loader, the trainer and evaluation.

/** One image-text pair as stored in a shard row. */
export interface Sample {
  key: string;
  caption: string;
  /** The original encoded image bytes (JPEG/PNG/WebP/...), never re-encoded. */
  image: Uint8Array;
  width: number;
  height: number;
  label?: number;
  lang?: string;
  /** Any extra metadata columns (string or number values). */
  extra?: Record<string, string | number | null>;
}

/**
 * Where a row's encoded image lies in a file (a shard read from disk): the
 * loader's decode workers read it there, so the main thread never copies or
 * sends the image bytes.
 */
export interface FileSpan {
  file: string;
  offset: number;
  length: number;
}

/** Arrow IPC shard columns, in order; `label`, `lang` and extras are optional. */
export const SHARD_COLUMNS = ["key", "caption", "image", "width", "height", "label", "lang"] as const;

/**
 * `manifest.json` of a shard directory, or the manifest a webdataset tar pool
 * gets when it is read in place (formats/webdataset.ts: `source` is the tar's
 * path or pipe: command, `rows` -1 when unknown until the tar is read, no sha256).
 */
export interface Manifest {
  format: "clipts-shards" | "webdataset";
  version: 1;
  /** Total rows over all shards (-1: unknown). */
  rows: number;
  /** Column names present in every shard. */
  columns: string[];
  shards: { file: string; rows: number; sha256: string; source?: string }[];
  /** Samples skipped at ingest, by reason, with their keys (bounded list). */
  skipped: { count: number; byReason: Record<string, number>; keys: string[] };
  /** Class names when ingested from class folders (index = label). */
  classes?: string[];
}
