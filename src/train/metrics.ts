// Scalar logging: the same values go to a JSONL file and to TensorBoard.
import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { EventWriter } from "./tensorboard.js";

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
