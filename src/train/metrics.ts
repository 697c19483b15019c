// Scalar logging: the same values go to a JSONL file and to TensorBoard.
import { appendFileSync, createReadStream, existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { LoaderStats } from "../data/loader.js";
import { AtomicWriter } from "../util/atomic.js";
import { EventWriter } from "./tensorboard.js";

/**
 * The loader's cumulative skip counts as log scalars: data_skipped, one
 * data_skipped_<reason> per reason seen, data_cut_shards and data_cut_rows
 * (rows lost in shards cut short or failing their hash).
 */
export function dataCounts(st: LoaderStats): Record<string, number> {
  const out: Record<string, number> = { data_skipped: st.skipped };
  for (const [r, n] of Object.entries(st.byReason)) out[`data_skipped_${r.replace(/-/g, "_")}`] = n ?? 0;
  const cut = Object.values(st.truncatedShards);
  out.data_cut_shards = cut.length;
  out.data_cut_rows = cut.reduce((a, c) => a + (c.lostRows ?? 0), 0);
  return out;
}

/** One line for the end of a run: what the loader skipped and lost, with reasons (empty when nothing). */
export function formatDataCounts(st: LoaderStats): string[] {
  const lines: string[] = [];
  if (st.skipped > 0) {
    const reasons = Object.entries(st.byReason).map(([r, n]) => `${r}: ${n}`).join(", ");
    lines.push(`data: skipped ${st.skipped} row(s) (${reasons})`);
  }
  for (const [shard, c] of Object.entries(st.truncatedShards)) {
    lines.push(`data: ${shard}: ${c.lostRows ?? "unknown number of"} row(s) lost (${c.reason})`);
  }
  return lines;
}

/**
 * Drop the lines of a JSONL log whose step is past `step` (a resumed run
 * writes those steps again). Streamed, and replaced atomically.
 */
export async function trimLogAfter(file: string, step: number): Promise<void> {
  if (!existsSync(file)) return;
  const w = new AtomicWriter(file);
  let dropped = 0;
  try {
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      let s: unknown;
      try {
        s = (JSON.parse(line) as { step?: unknown }).step;
      } catch {
        s = undefined; // a torn last line of a killed run: dropped too
      }
      if (typeof s === "number" && s <= step) await w.write(line + "\n");
      else dropped++;
    }
  } catch (err) {
    await w.abort();
    throw err;
  }
  if (dropped === 0) return void (await w.abort());
  await w.commit();
}

export class ScalarLog {
  private readonly tb: EventWriter | null;
  constructor(
    readonly jsonlFile: string,
    tensorboardDir: string | null,
  ) {
    mkdirSync(path.dirname(jsonlFile), { recursive: true });
    this.tb = tensorboardDir ? new EventWriter(tensorboardDir) : null;
  }
  get eventFile(): string | null {
    return this.tb?.file ?? null;
  }
  /** One JSONL line (`{step, time, split?, ...}`) and one event with `<split>/<name>` tags. */
  write(step: number, scalars: Record<string, number>, split: "train" | "eval" = "train"): void {
    const wall = Date.now() / 1000;
    const head = split === "train" ? { step, time: wall } : { step, time: wall, split };
    appendFileSync(this.jsonlFile, JSON.stringify({ ...head, ...scalars }) + "\n");
    this.tb?.scalars(step, Object.fromEntries(Object.entries(scalars).map(([k, v]) => [`${split}/${k}`, v])), wall);
  }
  close(): void {
    this.tb?.close();
  }
}
