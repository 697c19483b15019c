// Worker-thread entry of openTarShardInWorker (tar-shard.ts): reads one tar
// with openTarShard, its members' bytes in shared memory blocks, and posts
// the rows back (their images arrive on the main thread as views of the
// same memory, not copies), with the skips it was told.
import { parentPort, workerData } from "node:worker_threads";
import { openTarShard, type TarWorkerData, type TarWorkerResult } from "./tar-shard.js";
import type { ShardSkip } from "./shards.js";

const BLOCK = 64 * 2 ** 20;
let block: SharedArrayBuffer | null = null;
let used = 0;
/** Members carved out of 64 MiB shared blocks (a larger member gets a block of its own). */
function allocate(size: number): Buffer {
  if (!block || used + size > block.byteLength) {
    block = new SharedArrayBuffer(Math.max(BLOCK, size));
    used = 0;
  }
  const out = Buffer.from(block, used, size);
  used += size;
  return out;
}

const { name, source, expectedRows } = workerData as TarWorkerData;
const sampleSkips: [string, string][] = [];
let skip: ShardSkip | null = null;
const opened = await openTarShard(name, source, {
  ...(expectedRows !== undefined ? { expectedRows } : {}),
  onSkip: (s) => void (skip = s),
  onSampleSkip: (key, reason) => void sampleSkips.push([key, reason]),
  allocate,
});
const { get, ...shard } = opened;
const result: TarWorkerResult = { shard: { ...shard, rows: Array.from({ length: opened.numRows }, (_, i) => get(i)) }, sampleSkips, skip };
parentPort!.postMessage(result);
