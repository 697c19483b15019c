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
// loader's batches while it runs, so it runs on a worker, one per hash (~2 ms
// of the main thread to start). The bytes move there and back (transferred,
// not copied). Not shared memory: a SharedArrayBuffer that JavaScript objects
// promoted to the old generation still point at is freed only at the next
// full collection, and V8 does not count it as memory to collect for, so
// shard-sized shared buffers pile up (11 of 50 MB in a test, against 4
// ordinary ones).
const HASH_WORKER = `
const { parentPort, workerData: { buffer, offset, length } } = require("node:worker_threads");
const bytes = new Uint8Array(buffer, offset, length);
const h = require("node:crypto").createHash("sha256");
const chunk = 64 * 2 ** 20; // one update over 2 GiB throws
for (let off = 0; off < length; off += chunk) h.update(bytes.subarray(off, Math.min(length, off + chunk)));
parentPort.postMessage({ hex: h.digest("hex"), buffer }, [buffer]);`;

/**
 * The sha256 of `bytes`, computed on a worker thread. Their whole
 * ArrayBuffer moves there and back, so `bytes` is unusable afterwards: use
 * the returned view of the same memory (readFileBounded's `ownBuffer` gives
 * bytes whose buffer is theirs alone).
 */
export async function sha256Moved(bytes: Uint8Array): Promise<{ hex: string; bytes: Uint8Array }> {
  const { byteOffset: offset, byteLength: length } = bytes;
  const buffer = bytes.buffer as ArrayBuffer;
  const worker = new Worker(HASH_WORKER, { eval: true, workerData: { buffer, offset, length }, transferList: [buffer] });
  try {
    const r = await new Promise<{ hex: string; buffer: ArrayBuffer }>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`sha256 worker exited with code ${code} before answering`)));
    });
    return { hex: r.hex, bytes: new Uint8Array(r.buffer, offset, length) };
  } finally {
    await worker.terminate();
  }
}
