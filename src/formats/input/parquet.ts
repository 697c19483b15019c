// Parquet tables via hyparquet, one row group at a time (never the whole file
// in memory). String columns are decoded strictly so invalid UTF-8 is caught;
// plain BYTE_ARRAY columns (img2dataset's image bytes) stay binary (utf8: false).
import path from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import type { AsyncBuffer, FileMetaData } from "hyparquet";
import { InputError } from "../../util/errors.js";
import { decodeUtf8, InvalidUtf8, type FormatSource, type ReaderItem } from "./common.js";
import { resolveColumns, rowToItem, type TableColumns } from "./table.js";

const parsers = {
  stringFromBytes(bytes: Uint8Array): unknown {
    if (bytes === undefined || bytes === null) return bytes;
    const { text, ok } = decodeUtf8(bytes);
    return ok ? text : new InvalidUtf8(text);
  },
};

export interface OpenParquet {
  file: AsyncBuffer;
  metadata: FileMetaData;
  columns: string[];
}

/** Open a parquet file and read its footer; InputError naming the file when unreadable. */
export async function openParquet(file: string): Promise<OpenParquet> {
  let buffer: AsyncBuffer;
  try {
    buffer = await asyncBufferFromFile(file);
  } catch (err) {
    throw new InputError(`${file}: cannot open parquet file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (err) {
    throw new InputError(`${file}: unreadable parquet schema (${(err as Error).message})`);
  }
  const columns = parquetSchema(metadata).children.map((c) => c.element.name);
  return { file: buffer, metadata, columns };
}

/** Rows of a parquet file, one row group at a time; a bad row group is reported, not thrown. */
export async function* parquetRows(file: string, pq: OpenParquet, columns?: string[]): AsyncGenerator<{ row: number; values?: Record<string, unknown>; error?: string; rows?: number }> {
  let rowStart = 0;
  for (const [g, group] of pq.metadata.row_groups.entries()) {
    const n = Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file: pq.file, metadata: pq.metadata, rowStart, rowEnd: rowStart + n, columns, utf8: false, parsers });
    } catch (err) {
      yield { row: rowStart, error: `unreadable parquet row group: ${g} of ${path.basename(file)} (${(err as Error).message})`, rows: n };
      rowStart += n;
      continue;
    }
    for (const [i, values] of rows.entries()) yield { row: rowStart + i, values };
    rowStart += n;
  }
}

export async function readParquetTable(file: string, cols: TableColumns): Promise<FormatSource> {
  const pq = await openParquet(file);
  const resolved = resolveColumns(file, pq.columns, cols);
  const total = Number(pq.metadata.num_rows);
  async function* items(): AsyncGenerator<ReaderItem> {
    for await (const r of parquetRows(file, pq)) {
      if (r.error) {
        // Every row of an unreadable row group is skipped, keyed by its row index.
        for (let i = 0; i < (r.rows ?? 1); i++) yield { key: `${path.basename(file)}:${r.row + i}`, skip: r.error };
        continue;
      }
      yield rowToItem(file, { row: r.row, values: r.values }, resolved);
    }
  }
  return { items: items(), total, files: [file] };
}
