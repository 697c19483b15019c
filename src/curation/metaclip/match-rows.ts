// MetaCLIP matching as one core: rows in, matches out, in order, on the
// calling thread or on N worker threads. Rows come as a batch of JSONL lines
// (`curate match` on a file: the workers parse them too) or as a batch of
// captions (a shard folder's rows, the ablation runner's pool). Results are
// returned in submission order and per-entry counts are summed at the end, so
// the output is identical for any worker count.
import { Worker } from "node:worker_threads";
import { workerEntry } from "../../util/worker-entry.js";
import type { LineBatch } from "../lines.js";
import { buildMatcher, type Matcher } from "./matcher.js";
import { addStats, emptyStats, matchBatch, matchTexts, type FlatMatches, type MatchStats } from "./match-batch.js";
import type { WorkerReply, WorkerRequest } from "./match-worker.js";

export class MatchPool {
  /** Worker threads in use (1: in-process). */
  readonly workers: number;
  /** Matches per metadata entry and text statistics; complete after finish(). */
  readonly counts: Float64Array;
  readonly stats: MatchStats = emptyStats();
  private readonly matcher?: Matcher;
  private readonly threads: Worker[] = [];
  private readonly waiting: ((r: WorkerReply) => void)[][] = [];
  private failed: Promise<never> = new Promise<never>(() => {});
  private next = 0;

  constructor(entries: string[], workers = 1) {
    this.counts = new Float64Array(entries.length);
    workers = Math.max(1, Math.floor(workers));
    this.workers = workers;
    if (workers === 1) {
      this.matcher = buildMatcher(entries);
      return;
    }
    let reject!: (e: unknown) => void;
    this.failed = new Promise<never>((_, r) => (reject = r));
    this.failed.catch(() => {});
    const entry = workerEntry(new URL("./match-worker.js", import.meta.url));
    for (let i = 0; i < workers; i++) {
      const w = new Worker(entry.entry, { workerData: { entries }, eval: entry.eval });
      const q: (typeof this.waiting)[number] = [];
      w.on("message", (m: WorkerReply | { type: "ready" }) => {
        if (m.type !== "ready") q.shift()?.(m);
      });
      w.on("error", (e) => reject(e));
      this.threads.push(w);
      this.waiting.push(q);
    }
  }

  private send(i: number, req: WorkerRequest): Promise<WorkerReply> {
    const p = new Promise<WorkerReply>((res) => this.waiting[i]!.push(res));
    this.threads[i]!.postMessage(req);
    return Promise.race([p, this.failed]);
  }

  /**
   * Batches worth having in flight: a few per worker thread, so none waits;
   * in-process one (results held longer only cost garbage collection: +14% CPU measured).
   */
  get inflight(): number {
    return this.threads.length > 0 ? 3 * this.threads.length : 1;
  }

  /** Round-robin: the worker that gets the next batch. */
  private worker(): number {
    return this.next++ % this.threads.length;
  }

  /** A batch of JSONL lines {key, text} -> the matches JSONL text {key, entries} (see match-batch.ts for bad lines). */
  async matchLines(batch: LineBatch): Promise<string> {
    if (this.matcher) return matchBatch(this.matcher, batch, this.counts, this.stats);
    const r = await this.send(this.worker(), { type: "lines", batch });
    return (r as { out: string }).out;
  }

  /** A batch of captions -> each caption's ascending entry ids. */
  async matchRows(texts: readonly string[]): Promise<Uint32Array[]> {
    const flat = this.matcher
      ? matchTexts(this.matcher, texts, this.counts, this.stats)
      : ((await this.send(this.worker(), { type: "texts", texts: texts as string[] })) as { flat: FlatMatches }).flat;
    const out: Uint32Array[] = [];
    for (let i = 0; i < texts.length; i++) out.push(flat.ids.subarray(flat.offsets[i]!, flat.offsets[i + 1]!));
    return out;
  }

  /** Collect the workers' counts and statistics (call once, after every batch has resolved) and stop them. */
  async finish(): Promise<void> {
    if (this.matcher) return;
    const done = await Promise.all(this.threads.map((_, i) => this.send(i, { type: "finish" })));
    for (const d of done) {
      const { counts, stats } = d as { counts: Float64Array; stats: MatchStats };
      for (let e = 0; e < this.counts.length; e++) this.counts[e]! += counts[e]!;
      addStats(this.stats, stats);
    }
    await this.destroy();
  }

  /** Stop the workers without collecting (after an error). */
  async destroy(): Promise<void> {
    await Promise.all(this.threads.map((w) => w.terminate()));
  }
}
