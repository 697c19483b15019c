// Worker-thread entry of openTarShardInWorker (tar-shard.ts): reads tars one
// at a time with openTarShard, their members' bytes in shared memory blocks,
// and posts each tar's rows back (their images arrive on the main thread as
// views of the same memory, not copies), with the skips it was told.
import { parentPort } from "node:worker_threads";
import { openTarShard, type TarWorkerRequest, type TarWorkerResult } from "./tar-shard.js";
import type { ShardSkip } from "./shards.js";
import { InputError } from "../util/errors.js";

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
  } finally {
    // The next tar starts a new block: this one belongs to the rows just read.
    block = null;
  }
}

// One tar at a time, in the order asked.
let chain: Promise<void> = Promise.resolve();
parentPort!.on("message", (req: TarWorkerRequest) => {
  chain = chain.then(async () => parentPort!.postMessage(await read(req)));
});
