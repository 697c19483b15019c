// Streaming JSONL reading that never loads a whole file and reports bad lines
// by number instead of stopping the run.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { InputError } from "./errors.js";

export interface JsonlLine {
  /** 1-based line number in the file. */
  line: number;
  /** Parsed value, or undefined when the line is not valid JSON. */
  value: unknown;
  /** Why the line could not be parsed (invalid JSON or invalid UTF-8). */
  error?: string;
}

const REPLACEMENT = "\uFFFD";

/**
 * Yield every non-blank line of a JSONL file. Invalid UTF-8 shows up as U+FFFD
 * after decoding; such lines are reported as errors so callers can count them.
 */
export async function* readJsonl(file: string): AsyncGenerator<JsonlLine> {
  const stream = createReadStream(file);
  stream.on("error", () => {}); // surfaced by the iterator below
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of rl) {
      line++;
      if (text.trim() === "") continue;
      if (text.includes(REPLACEMENT)) {
        yield { line, value: undefined, error: "invalid UTF-8" };
        continue;
      }
      try {
        yield { line, value: JSON.parse(text) };
      } catch {
        yield { line, value: undefined, error: "invalid JSON" };
      }
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InputError(`${file}: cannot read (${e.code ?? e.message})`);
  }
}
