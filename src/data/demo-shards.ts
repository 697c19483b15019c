// The demo dataset end to end: build the JSONL + PNG folder, then ingest the
// train and eval splits into Arrow shards, the form every later stage reads.
import path from "node:path";
import { buildDemo, type DemoOptions } from "./demo.js";
import type { DemoSummary } from "./demo-readme.js";
import { ingest } from "./ingest.js";

export interface DemoShardsResult {
  summary: DemoSummary;
  /** Shard folders: DIR/shards/train and DIR/shards/eval. */
  train: string;
  eval: string;
  /** Per-language retrieval splits: DIR/shards/eval-<lang>. */
  evalByLang: Record<string, string>;
}

export async function buildDemoShards(opts: DemoOptions & { rowsPerShard?: number }): Promise<DemoShardsResult> {
  const summary = await buildDemo(opts);
  const out = (split: string) => path.join(opts.output, "shards", split);
  const langSplits = Object.keys(summary.evalByLang).map((l) => `eval-${l}`);
  for (const split of ["train", "eval", ...langSplits]) {
    await ingest({
      input: [path.join(opts.output, `${split}.jsonl`)],
      output: out(split),
      format: "jsonl",
      rowsPerShard: opts.rowsPerShard ?? 1000,
      quiet: opts.quiet,
    });
  }
  const evalByLang = Object.fromEntries(Object.keys(summary.evalByLang).map((l) => [l, out(`eval-${l}`)]));
  return { summary, train: out("train"), eval: out("eval"), evalByLang };
}
