// Worker-thread entry: decodes and transforms one image at a time with sharp.
// Each worker keeps libvips single-threaded, so a pool of N workers uses
// about N cores and the pool size is the parallelism knob.
import { parentPort, workerData } from "node:worker_threads";
import sharp from "sharp";
import { transformToRgb, type TransformSpec } from "./transforms.js";
import type { DecodeReply, DecodeRequest } from "./decode-worker-pool.js";

const spec = (workerData as { spec: TransformSpec }).spec;
sharp.concurrency(1);
// libvips' operation cache only helps when the same image is processed twice.
sharp.cache(false);

const port = parentPort;
if (!port) throw new Error("decode-worker.ts must run in a worker thread");

// Requests are handled strictly one after another (the pool may queue a
// second one here to hide message latency).
let chain: Promise<void> = Promise.resolve();
port.on("message", (req: DecodeRequest) => {
  chain = chain.then(async () => {
    const r = await transformToRgb(req.bytes, spec, req.seed);
    if (r.ok) {
      // uint8 pixels (a quarter of float32's size) are cloned to the loader,
      // which normalizes them straight into the batch buffer.
      const reply: DecodeReply = { id: req.id, ok: true, rgb: r.rgb };
      port.postMessage(reply);
    } else {
      const reply: DecodeReply = { id: req.id, ok: false, reason: r.reason, message: r.message };
      port.postMessage(reply);
    }
  });
});
