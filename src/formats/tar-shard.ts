// One webdataset tar opened as a shard of the loader (the OpenedShard an Arrow
// shard gives): its samples are read in member order with the ingest's tar
// reader (formats/wds.ts), so a tar read in place and the same tar ingested
// into an Arrow shard give the same rows. Like an Arrow shard, one tar's rows
// are held while it is read (tars are 0.5-1 GB; each member its own buffer,
// never one buffer for the tar). A sample that cannot be used is skipped and
// reported with its key; a cut tar or a failed `pipe:` command keeps the rows
// read before the cut and is reported like a cut Arrow shard.
import type { OpenedShard, ReadShardOptions } from "./shards.js";
import type { FileSpan, Sample } from "./types.js";
import { DEFAULT_MAX_IMAGE_BYTES } from "./shards.js";
import { isSkip } from "./input/common.js";
import { readTarSamples } from "./input/wds.js";

export interface TarShardOptions extends ReadShardOptions {
  /** Told for each sample of the tar that has no usable image or metadata (the loader counts it). */
  onSampleSkip?: (key: string, reason: string) => void;
  /** Where members' bytes go (WdsLimits.allocate). */
  allocate?: (size: number) => Buffer;
}

/** Read a tar (a path or a `pipe:` command) named `name` as a shard. */
export async function openTarShard(name: string, source: string, opts: TarShardOptions = {}): Promise<OpenedShard> {
  const rows: Sample[] = [];
  const spans: (FileSpan | null)[] = [];
  let cut: string | undefined;
  for await (const item of readTarSamples(source, { maxImageBytes: DEFAULT_MAX_IMAGE_BYTES, allocate: opts.allocate })) {
    if (isSkip(item)) {
      // The reader's last word on a cut tar or a failed command.
      if (/^(broken tar|truncated tar member)/.test(item.skip)) cut = item.skip;
      else opts.onSampleSkip?.(item.key, item.skip);
      continue;
    }
    const s: Sample = {
      key: item.key,
      caption: item.captionInvalid ? (null as unknown as string) : ((item.caption ?? null) as string),
      image: item.image!,
      width: 0,
      height: 0,
    };
    if (item.label !== undefined) s.label = item.label;
    if (item.lang !== undefined) s.lang = item.lang;
    rows.push(s);
    spans.push(item.imageAt ?? null);
  }
  const expected = opts.expectedRows !== undefined && opts.expectedRows >= 0 ? opts.expectedRows : undefined;
  if (cut !== undefined) {
    opts.onSkip?.({ shard: name, rows: expected !== undefined ? Math.max(0, expected - rows.length) : null, readRows: rows.length, reason: cut });
  }
  return {
    file: name,
    numRows: rows.length,
    truncated: cut !== undefined,
    ...(cut !== undefined ? { error: cut } : {}),
    ...(cut !== undefined && expected !== undefined ? { skippedRows: Math.max(0, expected - rows.length) } : {}),
    columns: ["key", "caption", "image", "label"],
    get: (row) => rows[row]!,
    // A local tar's image lies at its member's offset; a pipe:'s only in memory.
    imageSpan: (row) => spans[row] ?? null,
  };
}
