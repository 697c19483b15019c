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
  write(step: number, scalars: Record<string, number>): void {
    const wall = Date.now() / 1000;
    appendFileSync(this.jsonlFile, JSON.stringify({ step, time: wall, ...scalars }) + "\n");
    this.tb?.scalars(step, Object.fromEntries(Object.entries(scalars).map(([k, v]) => [`train/${k}`, v])), wall);
  }
  close(): void {
    this.tb?.close();
  }
}
