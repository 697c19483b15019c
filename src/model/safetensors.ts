// safetensors files, written and read by the project:
//   u64le N | N bytes of JSON header (space-padded so data starts 8-byte aligned) | raw LE data
// Header: { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": { str: str } },
// offsets relative to the first data byte, tensors packed back to back.
import { endianness } from "node:os";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { AtomicWriter } from "../util/atomic.js";
import { InputError } from "../util/errors.js";

/** Dtypes written; BF16 is written from float32 data (export), read back as float32. */
export type STDtype = "F32" | "I32" | "F64" | "BF16";
export type STData = Float32Array | Int32Array | Float64Array;

export interface STTensor {
  dtype: STDtype;
  shape: number[];
  data: STData;
}

const ITEM: Record<STDtype, number> = { F32: 4, I32: 4, F64: 8, BF16: 2 };

if (endianness() !== "LE") throw new Error("safetensors I/O assumes a little-endian host");

function dtypeOf(data: STData): STDtype {
  if (data instanceof Float32Array) return "F32";
  if (data instanceof Int32Array) return "I32";
  return "F64";
}

/** Build the padded header bytes for tensors given in write order. */
export function encodeHeader(
  entries: { name: string; dtype: STDtype; shape: number[]; byteLength: number }[],
  metadata: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let off = 0;
  for (const e of entries) {
    if (e.name === "__metadata__") throw new Error("tensor name __metadata__ is reserved");
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.byteLength] };
    off += e.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json]);
}

/**
 * Write tensors atomically. `tensors` yields names with a thunk for the data so
 * large models are streamed tensor by tensor instead of held twice in memory.
 */
export async function writeSafetensors(
  file: string,
  tensors: { name: string; shape: number[]; dtype: STDtype; data: () => STData }[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const entries = tensors.map((t) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    byteLength: t.shape.reduce((a, b) => a * b, 1) * ITEM[t.dtype],
  }));
  const w = new AtomicWriter(file);
  try {
    await w.write(encodeHeader(entries, metadata));
    for (let i = 0; i < tensors.length; i++) {
      let data: STData | Uint16Array = tensors[i]!.data();
      const want = entries[i]!.dtype;
      // BF16 is written from float32 data, rounded to nearest even.
      if (want === "BF16" && data instanceof Float32Array) data = toBf16Bits(data);
      else if (dtypeOf(data) !== want) throw new Error(`safetensors: ${entries[i]!.name}: ${dtypeOf(data)} data for a ${want} entry`);
      if (data.byteLength !== entries[i]!.byteLength) throw new Error(`safetensors: ${entries[i]!.name}: data does not match its shape`);
      await w.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    await w.commit();
  } catch (err) {
    await w.abort();
    throw err;
  }
}

export interface SafetensorsFile {
  tensors: Map<string, STTensor>;
  metadata: Record<string, string>;
}

/** Largest header read (the format's reference implementation caps it at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
/** Bytes per positioned read (Node reads at most 2 GiB per call). */
const READ_CHUNK = 1 << 30;

/** Element size of every dtype the reader takes; F16 and BF16 are widened to float32. */
const READ_ITEM: Record<string, number> = { F32: 4, I32: 4, F64: 8, F16: 2, BF16: 2 };

function readFully(fd: number, into: Uint8Array, position: number): void {
  for (let got = 0; got < into.length; ) {
    const n = readSync(fd, into, got, Math.min(READ_CHUNK, into.length - got), position + got);
    if (n === 0) throw new Error("unexpected end of file");
    got += n;
  }
}

/**
 * Read and validate a safetensors file tensor by tensor from file offsets, so
 * any size works (no whole-file buffer). F32, I32 and F64 come back as they
 * are; F16 and BF16 (as open_clip exports them) are widened to float32 master
 * weights. The header is checked before any tensor is read: every entry's
 * dtype, shape and data_offsets, offsets in range, ordered, not overlapping
 * and leaving no hole, each error naming the file and tensor.
 */
export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  const bad = (why: string) => new InputError(`${file}: not a valid safetensors file: ${why}`);
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw bad("shorter than 8 bytes");
    const lenBuf = Buffer.alloc(8);
    readFully(fd, lenBuf, 0);
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n > size - 8) throw bad(`header length ${n} exceeds the file (${size} bytes)`);
    if (n > MAX_HEADER_BYTES) throw bad(`header length ${n} is over ${MAX_HEADER_BYTES} bytes`);
    const headerBuf = Buffer.alloc(n);
    readFully(fd, headerBuf, 8);
    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString("utf8"));
    } catch {
      throw bad("header is not JSON");
    }
    if (header === null || typeof header !== "object" || Array.isArray(header)) throw bad("header is not a JSON object");
    const dataStart = 8 + n, dataLen = size - dataStart;
    const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
      if (name === "__metadata__") {
        if (v === null || typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")) {
          throw bad("__metadata__ must map strings to strings");
        }
        metadata = v as Record<string, string>;
        continue;
      }
      if (v === null || typeof v !== "object") throw bad(`${name}: entry is not an object`);
      const { dtype, shape, data_offsets } = v as { dtype: unknown; shape: unknown; data_offsets: unknown };
      if (typeof dtype !== "string" || !(dtype in READ_ITEM)) throw bad(`${name}: unsupported dtype ${JSON.stringify(dtype)} (F32, F16, BF16, F64, I32 are read)`);
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw bad(`${name}: shape ${JSON.stringify(shape)} is not a list of sizes`);
      if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
        throw bad(`${name}: data_offsets ${JSON.stringify(data_offsets)} is not [begin, end]`);
      }
      const [begin, end] = data_offsets as [number, number];
      const bytes = (shape as number[]).reduce((a, c) => a * c, 1) * READ_ITEM[dtype]!;
      if (end - begin !== bytes) throw bad(`${name}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, its ${dtype} shape [${shape}] needs ${bytes}`);
      if (end > dataLen) throw bad(`${name}: data_offsets end ${end} is past the data (${dataLen} bytes; truncated file?)`);
      entries.push({ name, dtype, shape: shape as number[], begin, end });
    }
    // The format packs tensors back to back: no overlap, no hole.
    const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
    let at = 0;
    for (const e of sorted) {
      if (e.begin < at) throw bad(`${e.name}: data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (ends at ${at})`);
      if (e.begin > at) throw bad(`${e.name}: ${e.begin - at} bytes before it belong to no tensor`);
      at = e.end;
    }
    if (at !== dataLen) throw bad(`${dataLen - at} bytes after the last tensor belong to no tensor`);
    const tensors = new Map<string, STTensor>();
    for (const e of entries) {
      // Each tensor in its own aligned buffer, read at its offset.
      const raw = new Uint8Array(e.end - e.begin);
      readFully(fd, raw, dataStart + e.begin);
      tensors.set(e.name, decode(e.dtype, e.shape, raw));
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

function decode(dtype: string, shape: number[], raw: Uint8Array): STTensor {
  if (dtype === "F32") return { dtype, shape, data: new Float32Array(raw.buffer) };
  if (dtype === "I32") return { dtype, shape, data: new Int32Array(raw.buffer) };
  if (dtype === "F64") return { dtype, shape, data: new Float64Array(raw.buffer) };
  const half = new Uint16Array(raw.buffer);
  const out = new Float32Array(half.length);
  if (dtype === "BF16") {
    // bfloat16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < half.length; i++) bits[i] = half[i]! << 16;
  } else {
    for (let i = 0; i < half.length; i++) out[i] = halfToFloat(half[i]!);
  }
  return { dtype: "F32", shape, data: out };
}

/** IEEE half-precision bits -> number (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float32 -> bfloat16 bits, rounding to nearest even (as PyTorch's .bfloat16()); NaN stays NaN. */
export function toBf16Bits(x: Float32Array): Uint16Array {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = bits[i]!;
    if ((b & 0x7fffffff) > 0x7f800000) out[i] = (b >>> 16) | 0x40; // quiet NaN
    else out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}
