// Worker thread of MatchPool (match-rows.ts): builds its own automaton once,
// matches the batches it is sent (in order) and returns its counts at the end.
import { parentPort, workerData } from "node:worker_threads";
import { buildMatcher } from "./matcher.js";
import { matchBatch, matchTexts, emptyStats, type FlatMatches, type MatchStats } from "./match-batch.js";
import type { LineBatch } from "../lines.js";

export type WorkerRequest = { type: "lines"; batch: LineBatch } | { type: "texts"; texts: string[] } | { type: "finish" };
export type WorkerReply =
  | { type: "lines"; out: string }
  | { type: "texts"; flat: FlatMatches }
  | { type: "done"; counts: Float64Array; stats: MatchStats };

// Loaded only as a worker (the pool's constructor starts it with workerData).
if (parentPort) {
  const port = parentPort;
  const entries = (workerData as { entries: string[] }).entries;
  const matcher = buildMatcher(entries);
  const counts = new Float64Array(entries.length);
  const stats = emptyStats();
  port.on("message", (msg: WorkerRequest) => {
    if (msg.type === "lines") {
      port.postMessage({ type: "lines", out: matchBatch(matcher, msg.batch, counts, stats) } satisfies WorkerReply);
    } else if (msg.type === "texts") {
      const flat = matchTexts(matcher, msg.texts, counts, stats);
      port.postMessage({ type: "texts", flat } satisfies WorkerReply, [flat.offsets.buffer as ArrayBuffer, flat.ids.buffer as ArrayBuffer]);
    } else {
      port.postMessage({ type: "done", counts, stats } satisfies WorkerReply, [counts.buffer]);
    }
  });
  port.postMessage({ type: "ready" });
}
