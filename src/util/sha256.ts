// The sha256 of a file, streamed (any size): the identity of shards,
// checkpoints and metadata files, recorded where one stage hands a file to the next.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Worker } from "node:worker_threads";

export async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

// Hashing a shard (~0.4 ms per MB) on the main thread would stall the
// loader's batches while it runs, so it runs on a worker that reads the bytes
// in place. One worker per hash, ended when done: a worker left idle would
// keep every buffer it was sent alive until its own GC, which an idle
// thread never runs. Starting one costs the main thread ~2 ms.
const HASH_WORKER = `
const { parentPort, workerData: bytes } = require("node:worker_threads");
const h = require("node:crypto").createHash("sha256");
const chunk = 64 * 2 ** 20; // one update over 2 GiB throws
for (let off = 0; off < bytes.byteLength; off += chunk) h.update(bytes.subarray(off, Math.min(bytes.byteLength, off + chunk)));
parentPort.postMessage(h.digest("hex"));`;

/** The sha256 of bytes in a SharedArrayBuffer (readFileBounded's `shared`), computed on a worker thread. */
export async function sha256Shared(bytes: Uint8Array): Promise<string> {
  if (!(bytes.buffer instanceof SharedArrayBuffer)) throw new Error("sha256Shared: bytes must be a view of a SharedArrayBuffer");
  const worker = new Worker(HASH_WORKER, { eval: true, workerData: bytes });
  try {
    return await new Promise<string>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`sha256 worker exited with code ${code} before answering`)));
    });
  } finally {
    await worker.terminate();
  }
}
