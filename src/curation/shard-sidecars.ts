// One pass over a shard folder that writes a sidecar per shard: the common
// shape of matching, language identification and worldwide matching on shards.
// Sidecars are keyed by shard and row, written atomically, and a job-array
// task (shard spec i/n) handles shards i, i+n, i+2n, ...
import path from "node:path";
import type { ShardSkip } from "../formats/shards.js";
import { poolManifest, poolRows } from "../formats/pool.js";
import type { Sample } from "../formats/types.js";
import { AtomicWriter } from "../util/atomic.js";
import { progress } from "../util/progress.js";
import type { ShardSpec } from "../util/job-array.js";

export interface SidecarPassOptions {
  /** Shard folder (with manifest.json), or a webdataset tar pool read in place (formats/webdataset.ts). */
  shards: string;
  /** Folder the sidecars are written to. */
  output: string;
  /** Sidecar file name for a shard file, e.g. `shard-000001.matches.jsonl`. */
  sidecarName: (shardFile: string) => string;
  /**
   * The sidecar text (lines with their newlines) for a batch of a shard's
   * readable rows that have a usable key and caption. It may resolve later:
   * up to `inflight` batches are pending at once and written in order.
   */
  lines: (rows: ShardRow[], shardFile: string) => string | Promise<string>;
  /** Batches pending at once (e.g. a few per worker thread; default 1). */
  inflight?: number;
  shard?: ShardSpec;
  label: string;
  quiet?: boolean;
}

/** A readable shard row with a usable key and caption. */
export interface ShardRow {
  row: number;
  sample: Sample;
}

/** Rows per batch handed to `lines`. */
const BATCH_ROWS = 1024;

export interface SidecarPassResult {
  sidecars: string[];
  shards: number;
  rows: number;
  /** Rows without a usable key or caption: no sidecar line. */
  badRows: number;
  /** Shards that were cut short (their readable rows were used). */
  cutShort: string[];
  /** Rows the manifest promised in those shards that could not be read. */
  cutRows: number;
}

/** Shard-file suffix for a job-array task's own summary files. */
export function shardSuffix(shard?: ShardSpec): string {
  return shard ? `.${shard.index}-of-${shard.count}` : "";
}

export async function writeShardSidecars(o: SidecarPassOptions): Promise<SidecarPassResult> {
  const manifest = await poolManifest(o.shards);
  const mine = manifest.shards.filter((_, i) => !o.shard || i % o.shard.count === o.shard.index);
  const r: SidecarPassResult = { sidecars: [], shards: mine.length, rows: 0, badRows: 0, cutShort: [], cutRows: 0 };
  const bar = progress(o.label, mine.reduce((a, s) => a + Math.max(0, s.rows), 0), { unit: "rows", quiet: o.quiet });
  try {
    for (const s of mine) {
      const file = path.join(o.output, o.sidecarName(s.file));
      const w = new AtomicWriter(file);
      const pending: (string | Promise<string>)[] = [];
      let batch: ShardRow[] = [];
      const submit = async (limit: number) => {
        if (batch.length > 0) pending.push(o.lines(batch, s.file));
        batch = [];
        while (pending.length > limit) await w.write(await pending.shift()!);
      };
      try {
        const onSkip = (info: ShardSkip) => {
          r.cutShort.push(s.file);
          r.cutRows += info.rows ?? 0;
        };
        for await (const { row, sample } of poolRows(o.shards, manifest, s, onSkip)) {
          bar.increment();
          r.rows++;
          // A row without a usable key or caption gets no line (MetaCLIP drops it; it cannot be selected by key).
          if (typeof sample.key !== "string" || sample.key === "" || typeof sample.caption !== "string") {
            r.badRows++;
            continue;
          }
          batch.push({ row, sample });
          if (batch.length === BATCH_ROWS) await submit((o.inflight ?? 1) - 1);
        }
        await submit(0);
        await w.commit();
      } catch (err) {
        await Promise.allSettled(pending);
        await w.abort();
        throw err;
      }
      r.sidecars.push(file);
    }
  } finally {
    bar.stop();
  }
  return r;
}
