// Worker-thread entry of openTarShardInWorker (tar-shard.ts): reads tars one
// at a time with openTarShard, their members' bytes in 64 MiB blocks, and
// posts each tar's rows back with the blocks moved (transferred, not copied)
// and the skips it was told. Ordinary ArrayBuffers, not shared memory: see
// util/sha256.ts for why shard-sized shared buffers are not freed in time.
import { parentPort } from "node:worker_threads";
import { openTarShard, type TarWorkerRequest, type TarWorkerResult } from "./tar-shard.js";
import type { ShardSkip } from "./shards.js";
import { InputError } from "../util/errors.js";

const BLOCK = 64 * 2 ** 20;
let blocks: ArrayBuffer[] = [];
let used = 0;
/** Members carved out of 64 MiB blocks (a larger member gets a block of its own). */
function allocate(size: number): Buffer {
  let block = blocks.at(-1);
  if (!block || used + size > block.byteLength) {
    blocks.push((block = new ArrayBuffer(Math.max(BLOCK, size))));
    used = 0;
  }
  const out = Buffer.from(block, used, size);
  used += size;
  return out;
}

async function read({ id, name, source, expectedRows }: TarWorkerRequest): Promise<TarWorkerResult> {
  const sampleSkips: [string, string][] = [];
  let skip: ShardSkip | null = null;
  const empty = { file: name, numRows: 0, truncated: false, columns: [], rows: [] };
  try {
    const opened = await openTarShard(name, source, {
      ...(expectedRows !== undefined ? { expectedRows } : {}),
      onSkip: (s) => void (skip = s),
      onSampleSkip: (key, reason) => void sampleSkips.push([key, reason]),
      allocate,
    });
    const { get, ...shard } = opened;
    return { id, shard: { ...shard, rows: Array.from({ length: opened.numRows }, (_, i) => get(i)) }, sampleSkips, skip };
  } catch (err) {
    return { id, shard: empty, sampleSkips, skip, error: { message: (err as Error).message, input: err instanceof InputError } };
  }
}

// One tar at a time, in the order asked; its blocks go with its rows.
let chain: Promise<void> = Promise.resolve();
parentPort!.on("message", (req: TarWorkerRequest) => {
  chain = chain.then(async () => {
    const result = await read(req);
    const moved = blocks;
    blocks = [];
    parentPort!.postMessage(result, moved);
  });
});
