// Worker-thread entry: decodes and transforms one image at a time (the
// image addon and/or sharp, see transforms.ts).
// Each worker keeps libvips single-threaded, so a pool of N workers uses
// about N cores and the pool size is the parallelism knob.
import { parentPort, workerData } from "node:worker_threads";
import sharp from "sharp";
import { transformToRgb } from "./transforms.js";
import { imageAddon } from "./image-native.js";
import { jobBytes, writeSlot, type DecodeJobs, type DecodeReplies, type DecodeReply, type DecodeWorkerData } from "./decode-worker-pool.js";
import { loadTokenizer } from "../text/tokenizer.js";

const { spec, ring, tokens } = workerData as DecodeWorkerData;
// Messages wait in the port until the listener below is attached.
const tokenizer = tokens ? await loadTokenizer(tokens.spec) : null;
sharp.concurrency(1);
// libvips' operation cache only helps when the same image is processed twice.
sharp.cache(false);

const port = parentPort;
if (!port) throw new Error("decode-worker.ts must run in a worker thread");

// Groups are handled strictly one after another (the pool may queue more
// to hide message latency); each group's replies go back in one message with
// the pixel buffers transferred, not copied.
let chain: Promise<void> = Promise.resolve();
port.on("message", ({ jobs }: DecodeJobs) => {
  chain = chain.then(async () => {
    const replies: DecodeReply[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const req of jobs) {
      const bytes = jobBytes(req.bytes);
      const r = bytes instanceof Uint8Array ? await transformToRgb(bytes, spec, req.seed) : bytes;
      if (r.ok && req.slot !== undefined) {
        // Normalized into the shared ring: nothing to send back but success.
        writeSlot(ring!, req.slot, r.rgb, spec);
        if (tokenizer && req.caption !== undefined) {
          const ctx = tokens!.contextLength;
          tokens!.ring.set(tokenizer.tokenize([req.caption], ctx), req.slot * ctx);
        }
        replies.push({ id: req.id, ok: true });
      } else if (r.ok) {
        replies.push({ id: req.id, ok: true, rgb: r.rgb });
        // With the addon every result is a fresh array of its own, which can
        // move. sharp's output buffers cannot (Node refuses to transfer
        // external buffers), so without the addon they are copied.
        if (imageAddon) transfer.push(r.rgb.buffer as ArrayBuffer);
      } else {
        replies.push({ id: req.id, ok: false, reason: r.reason, message: r.message });
      }
    }
    const msg: DecodeReplies = { replies };
    port.postMessage(msg, transfer);
  });
});
