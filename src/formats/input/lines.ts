// Byte-level reading of text tables, so invalid UTF-8 is detected exactly
// (decoding a whole stream lossily would hide it behind U+FFFD).
import { createReadStream } from "node:fs";
import { InputError } from "../../util/errors.js";

/** Yield each line's bytes (without the newline; a trailing CR is dropped), 1-based. */
export async function* readLineBytes(file: string): AsyncGenerator<{ line: number; bytes: Uint8Array }> {
  let pending: Buffer = Buffer.alloc(0);
  let line = 0;
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream) {
      let buf = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
        line++;
        const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
        yield { line, bytes: buf.subarray(start, end) };
        start = nl + 1;
      }
      pending = Buffer.from(buf.subarray(start));
      buf = pending;
    }
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (pending.length) {
    line++;
    const end = pending[pending.length - 1] === 13 ? pending.length - 1 : pending.length;
    yield { line, bytes: pending.subarray(0, end) };
  }
}

/** Count newline bytes of a file quickly (a progress total). */
export async function countLines(file: string): Promise<number> {
  let n = 0;
  let last = 10;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer;
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
    if (b.length) last = b[b.length - 1];
  }
  return last === 10 ? n : n + 1;
}
