// `clipts curate match` as one library call: a shard folder (manifest.json)
// or a webdataset tar pool is matched shard by shard into sidecars keyed by
// shard and row; any other input is a JSONL file of {key, text}. The shard-folder path loads Arrow, so
// it is imported only when needed (JSONL matching starts in ~0.1 s).
import { matchFile, type MatchOptions, type MatchResult } from "./match-file.js";
import type { MatchShardsResult } from "./shard-match.js";
import { isPool } from "../../formats/webdataset.js";

export type MatchRun = { kind: "shards"; result: MatchShardsResult } | { kind: "file"; result: MatchResult };

export async function matchInput(o: MatchOptions): Promise<MatchRun> {
  if (isPool(o.input)) {
    const { matchShards } = await import("./shard-match.js");
    return { kind: "shards", result: await matchShards({ metadata: o.metadata, shards: o.input, output: o.output, shard: o.shard, workers: o.workers, quiet: o.quiet }) };
  }
  return { kind: "file", result: await matchFile(o) };
}
