// One pass over a shard folder that writes a sidecar per shard: the common
// shape of matching, language identification and worldwide matching on shards.
// Sidecars are keyed by shard and row, written atomically, and a job-array
// task (shard spec i/n) handles shards i, i+n, i+2n, ...
import path from "node:path";
import { listShards, readShard } from "../data/shards.js";
import type { Sample } from "../data/types.js";
import { AtomicWriter } from "../util/atomic.js";
import { progress } from "../util/progress.js";
import type { ShardSpec } from "./lines.js";

export interface SidecarPassOptions {
  /** Shard folder (with manifest.json). */
  shards: string;
  /** Folder the sidecars are written to. */
  output: string;
  /** Sidecar file name for a shard file, e.g. `shard-000001.matches.jsonl`. */
  sidecarName: (shardFile: string) => string;
  /** The sidecar line (with its newline) for a readable row with a usable key and caption, or undefined for none. */
  line: (row: number, sample: Sample, shardFile: string) => string | undefined;
  shard?: ShardSpec;
  label: string;
  quiet?: boolean;
}

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
  const manifest = await listShards(o.shards);
  const mine = manifest.shards.filter((_, i) => !o.shard || i % o.shard.count === o.shard.index);
  const r: SidecarPassResult = { sidecars: [], shards: mine.length, rows: 0, badRows: 0, cutShort: [], cutRows: 0 };
  const bar = progress(o.label, mine.reduce((a, s) => a + s.rows, 0), { unit: "rows", quiet: o.quiet });
  try {
    for (const s of mine) {
      const file = path.join(o.output, o.sidecarName(s.file));
      const w = new AtomicWriter(file);
      try {
        const onSkip = (info: { rows: number | null }) => {
          r.cutShort.push(s.file);
          r.cutRows += info.rows ?? 0;
        };
        for await (const { row, sample } of readShard(path.join(o.shards, s.file), { expectedRows: s.rows, onSkip })) {
          bar.increment();
          r.rows++;
          // A row without a usable key or caption gets no line (MetaCLIP drops it; it cannot be selected by key).
          if (typeof sample.key !== "string" || sample.key === "" || typeof sample.caption !== "string") {
            r.badRows++;
            continue;
          }
          const text = o.line(row, sample, s.file);
          if (text !== undefined) await w.write(text);
        }
        await w.commit();
      } catch (err) {
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
