// Fast, streaming line reading for large JSONL files, with byte-range shards.
// A shard i/n owns the lines that *start* in bytes [size*i/n, size*(i+1)/n),
// so n shards cover every line exactly once without reading each other's bytes.
// Chunks are decoded as a whole when they are valid UTF-8 (the common case);
// otherwise line by line, flagging the lines that are not.
import { promises as fs } from "node:fs";
import { isUtf8 } from "node:buffer";
import { InputError } from "../util/errors.js";
import type { ShardSpec } from "../util/job-array.js";

export interface LineBatch {
  /** Line number of lines[0], 1-based within the shard (the file when unsharded). */
  firstLine: number;
  lines: string[];
  /** Indices into `lines` of lines that were not valid UTF-8 (decoded with U+FFFD). */
  badUtf8: number[];
  /** Bytes consumed so far (for progress). */
  bytesDone: number;
}

export function shardRange(size: number, shard?: ShardSpec): [number, number] {
  if (!shard) return [0, size];
  return [Math.floor((size * shard.index) / shard.count), Math.floor((size * (shard.index + 1)) / shard.count)];
}

const CHUNK = 1 << 22;
const NL = 10;

export async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** Yield the lines of a file (or of one shard of it) in batches of at most `batchLines`. */
export async function* readLineBatches(
  file: string,
  opts: { shard?: ShardSpec; batchLines?: number; chunkBytes?: number } = {},
): AsyncGenerator<LineBatch> {
  const batchLines = opts.batchLines ?? 2048;
  const chunkSize = opts.chunkBytes ?? CHUNK;
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, "r");
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    const size = (await fh.stat()).size;
    const [begin, end] = shardRange(size, opts.shard);
    let pos = begin;
    // A shard that starts mid-line skips to the next line: that line belongs to the previous shard.
    let skipping = false;
    if (begin > 0) {
      const one = Buffer.alloc(1);
      await fh.read(one, 0, 1, begin - 1);
      skipping = one[0] !== NL;
    }
    let carry: Buffer = Buffer.alloc(0);
    let carryStart = begin; // absolute offset of carry[0]
    let lineNo = 1;
    let pending: LineBatch = { firstLine: 1, lines: [], badUtf8: [], bytesDone: 0 };
    const chunk = Buffer.allocUnsafe(chunkSize);
    let done = false;
    while (!done) {
      const { bytesRead } = await fh.read(chunk, 0, chunkSize, pos);
      pos += bytesRead;
      const eof = bytesRead === 0;
      let data = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : Buffer.from(chunk.subarray(0, bytesRead));
      let dataStart = carryStart;
      if (skipping) {
        const nl = data.indexOf(NL);
        if (nl < 0) {
          if (eof) break;
          carry = Buffer.alloc(0);
          carryStart = dataStart + data.length;
          continue;
        }
        data = data.subarray(nl + 1);
        dataStart += nl + 1;
        skipping = false;
      }
      if (dataStart >= end) break;
      // Complete lines end at the last newline; at EOF the rest is a final line.
      let cut = eof ? data.length : data.lastIndexOf(NL) + 1;
      // Stop after the line that contains byte end-1: later lines start at or after `end`.
      const limit = end - dataStart;
      if (limit <= cut) {
        const nl = data.indexOf(NL, Math.max(0, limit - 1));
        cut = nl < 0 ? data.length : nl + 1;
        done = true;
      }
      if (eof) done = true;
      const complete = data.subarray(0, cut);
      carry = Buffer.from(data.subarray(cut));
      carryStart = dataStart + cut;
      if (complete.length > 0) {
        const { lines, bad } = decode(complete);
        for (let i = 0; i < lines.length; i++) {
          if (pending.lines.length === 0) pending.firstLine = lineNo;
          if (bad.has(i)) pending.badUtf8.push(pending.lines.length);
          pending.lines.push(lines[i]!);
          lineNo++;
          if (pending.lines.length >= batchLines) {
            pending.bytesDone = Math.min(end, carryStart) - begin;
            yield pending;
            pending = { firstLine: lineNo, lines: [], badUtf8: [], bytesDone: 0 };
          }
        }
      }
    }
    if (pending.lines.length > 0) {
      pending.bytesDone = end - begin;
      yield pending;
    }
  } finally {
    await fh.close();
  }
}

/** Split complete lines (the buffer ends at a newline or EOF). */
function decode(buf: Buffer): { lines: string[]; bad: Set<number> } {
  const bad = new Set<number>();
  let lines: string[];
  if (isUtf8(buf)) {
    lines = buf.toString("utf8").split("\n");
  } else {
    lines = [];
    let start = 0;
    while (start <= buf.length) {
      let nl = buf.indexOf(NL, start);
      if (nl < 0) nl = buf.length;
      const piece = buf.subarray(start, nl);
      if (!isUtf8(piece)) bad.add(lines.length);
      lines.push(piece.toString("utf8"));
      start = nl + 1;
    }
  }
  // A trailing newline leaves one empty string that is not a line.
  if (buf.length > 0 && buf[buf.length - 1] === NL) lines.pop();
  return { lines, bad };
}
