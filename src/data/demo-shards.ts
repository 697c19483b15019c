// The demo dataset end to end: build the JSONL + PNG folder, then ingest the
// train and eval splits into Arrow shards, the form every later stage reads.
import path from "node:path";
import { buildDemo, type DemoOptions, type DemoSummary } from "./demo.js";
import { ingest } from "./ingest.js";

export interface DemoShardsResult {
  summary: DemoSummary;
  /** Shard folders: DIR/shards/train and DIR/shards/eval. */
  train: string;
  eval: string;
}

export async function buildDemoShards(opts: DemoOptions & { rowsPerShard?: number }): Promise<DemoShardsResult> {
  const summary = await buildDemo(opts);
  const out = (split: string) => path.join(opts.output, "shards", split);
  for (const split of ["train", "eval"]) {
    await ingest({
      input: [path.join(opts.output, `${split}.jsonl`)],
      output: out(split),
      format: "jsonl",
      rowsPerShard: opts.rowsPerShard ?? 1000,
      quiet: opts.quiet,
    });
  }
  return { summary, train: out("train"), eval: out("eval") };
}
