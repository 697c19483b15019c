// Worker-thread entry of readShardRows (shard-reader.ts): opens shards one at
// a time and posts each one's rows back column by column, with the skips it
// was told. An Arrow shard's or a local tar's images stay in its file
// (spans); a `pipe:` tar's images are carved out of 64 MiB blocks that move
// (transferred, not copied) with the rows. Ordinary ArrayBuffers, not shared
// memory: V8 frees a SharedArrayBuffer that old-generation objects still
// point at only at its next full collection and does not count it as memory
// to collect for, so shard-sized shared buffers pile up (bench/RESULTS.md,
// session 7).
import { parentPort } from "node:worker_threads";
import { openShard, type OpenedShard, type ShardSkip } from "./shards.js";
import { openTarShard } from "./tar-shard.js";
import { textColumn, type ShardReply, type ShardRequest, type ShardRows } from "./shard-reader.js";
import { InputError } from "../util/errors.js";

const BLOCK = 64 * 2 ** 20;
let blocks: ArrayBuffer[] = [];
let used = 0;
/** Bytes carved out of 64 MiB blocks (a larger image gets a block of its own). */
function allocate(size: number): Buffer {
  let block = blocks.at(-1);
  if (!block || used + size > block.byteLength) {
    blocks.push((block = new ArrayBuffer(Math.max(BLOCK, size))));
    used = 0;
  }
  const out = Buffer.from(block, used, size);
  used += size;
  return out;
}

/** Bytes copied into a block (so they move with the rows). */
function inBlock(b: Uint8Array): Uint8Array {
  if (blocks.includes(b.buffer as ArrayBuffer)) return b;
  const out = allocate(b.length);
  out.set(b);
  return out;
}

/** The rows of an opened shard as columns; images as spans of its file when every one has one. */
function columns(opened: OpenedShard): ShardRows {
  const n = opened.numRows;
  const keys: (string | null)[] = [];
  const captions: (string | null)[] = [];
  const labels = new Float64Array(n).fill(NaN);
  const offsets = new Float64Array(n);
  const lengths = new Float64Array(n).fill(-1);
  let path: string | null = null;
  let spans = opened.imageSpan !== undefined;
  const bytes: (Uint8Array | null)[] = [];
  for (let i = 0; i < n; i++) {
    const s = opened.get(i);
    // Rows written by other tools may hold nulls (or other types) where the types say otherwise.
    keys.push(s.key === null || s.key === undefined ? null : String(s.key));
    captions.push(typeof s.caption === "string" ? s.caption : null);
    // Int64 columns (pyarrow's default for ints) give bigints; "3" counts as 3, as before.
    const label = s.label as unknown;
    if (label !== null && label !== undefined) labels[i] = Number(label);
    const image = (s.image as Uint8Array | null) ?? null;
    bytes.push(image);
    const span = image && spans ? opened.imageSpan!(i) : null;
    if (span) {
      path = span.file;
      offsets[i] = span.offset;
      lengths[i] = span.length;
    } else if (image) spans = false;
  }
  return {
    file: opened.file,
    numRows: n,
    truncated: opened.truncated,
    keys: textColumn(keys),
    captions: textColumn(captions),
    labels,
    images: spans && path !== null ? { path, offsets, lengths } : bytes.map((b) => b && inBlock(b)),
  };
}

async function read(req: ShardRequest & { id: number }): Promise<ShardReply> {
  const sampleSkips: [string, string][] = [];
  let skip: ShardSkip | null = null;
  const name = req.kind === "arrow" ? req.file : req.name;
  const empty: ShardRows = { file: name, numRows: 0, truncated: false, keys: textColumn([]), captions: textColumn([]), labels: new Float64Array(0), images: [] };
  const onSkip = (s: ShardSkip) => void (skip = s);
  try {
    const expected = req.expectedRows !== undefined ? { expectedRows: req.expectedRows } : {};
    if (req.kind === "arrow") {
      const opened = await openShard(req.file, { ...expected, onSkip, ...(req.sha256 !== undefined ? { sha256: req.sha256 } : {}) });
      return { id: req.id, rows: columns(opened), sampleSkips, skip };
    }
    // A local tar's images are sent as spans of it; a pipe:'s bytes go in the blocks.
    const inBlocks = req.source.startsWith("pipe:") ? { allocate } : {};
    const opened = await openTarShard(req.name, req.source, { ...expected, onSkip, onSampleSkip: (key, reason) => void sampleSkips.push([key, reason]), ...inBlocks });
    return { id: req.id, rows: columns(opened), sampleSkips, skip };
  } catch (err) {
    return { id: req.id, rows: empty, sampleSkips, skip, error: { message: (err as Error).message, input: err instanceof InputError } };
  }
}

// One shard at a time, in the order asked; a tar's blocks go with its rows.
let chain: Promise<void> = Promise.resolve();
parentPort!.on("message", (req: ShardRequest & { id: number }) => {
  chain = chain.then(async () => {
    const result = await read(req);
    const moved = blocks;
    blocks = [];
    used = 0;
    parentPort!.postMessage(result, moved);
  });
});
