// A pool read shard by shard, whatever form it has: a clipts shard folder
// (manifest.json, Arrow shards) or webdataset tars read in place
// (webdataset.ts). Curation's passes and DFN scoring read pools through here.
import path from "node:path";
import { listShards, readShard, type ShardSkip } from "./shards.js";
import { openTarShard } from "./tar-shard.js";
import type { Manifest, Sample } from "./types.js";
import { isTarPool, tarManifest } from "./webdataset.js";

/** A pool's manifest: a shard folder's, or a webdataset tar pool's. */
export async function poolManifest(pool: string): Promise<Manifest> {
  return isTarPool(pool) ? tarManifest(pool) : await listShards(pool);
}

/** The rows of one shard of a pool, in order; `onSkip` is told when the shard is cut short. */
export async function* poolRows(pool: string, manifest: Manifest, s: Manifest["shards"][number], onSkip?: (info: ShardSkip) => void): AsyncGenerator<{ row: number; sample: Sample }> {
  if (manifest.format !== "webdataset") {
    yield* readShard(path.join(pool, s.file), { expectedRows: s.rows, onSkip });
    return;
  }
  const tar = await openTarShard(s.file, s.source!, { expectedRows: s.rows, onSkip });
  for (let row = 0; row < tar.numRows; row++) yield { row, sample: tar.get(row) };
}
