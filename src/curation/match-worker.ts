// Worker thread for `curate match --workers N`: builds its own automaton once,
// matches the batches it is sent (in order) and returns its counts at the end.
import { parentPort, workerData } from "node:worker_threads";
import { buildMatcher } from "./matcher.js";
import { matchBatch, emptyStats } from "./match-batch.js";
import type { LineBatch } from "./lines.js";

export type WorkerRequest = { type: "batch"; batch: LineBatch } | { type: "finish" };

const entries = (workerData as { entries: string[] }).entries;
const matcher = buildMatcher(entries);
const counts = new Float64Array(entries.length);
const stats = emptyStats();

parentPort!.on("message", (msg: WorkerRequest) => {
  if (msg.type === "batch") {
    parentPort!.postMessage({ type: "batch", out: matchBatch(matcher, msg.batch, counts, stats) });
  } else {
    parentPort!.postMessage({ type: "done", counts, stats }, [counts.buffer]);
  }
});
parentPort!.postMessage({ type: "ready" });
