// safetensors files, written and read by the project:
//   u64le N | N bytes of JSON header (space-padded so data starts 8-byte aligned) | raw LE data
// Header: { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": { str: str } },
// offsets relative to the first data byte, tensors packed back to back.
import { endianness } from "node:os";
import { promises as fs } from "node:fs";
import { AtomicWriter } from "../util/atomic.js";
import { InputError } from "../util/errors.js";

export type STDtype = "F32" | "I32" | "F64";
export type STData = Float32Array | Int32Array | Float64Array;

export interface STTensor {
  dtype: STDtype;
  shape: number[];
  data: STData;
}

const ITEM: Record<STDtype, number> = { F32: 4, I32: 4, F64: 8 };

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
      const data = tensors[i]!.data();
      if (dtypeOf(data) !== entries[i]!.dtype || data.byteLength !== entries[i]!.byteLength) {
        throw new Error(`safetensors: ${entries[i]!.name}: data does not match its dtype/shape`);
      }
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

/** Read and validate a safetensors file (F32/I32/F64 tensors). */
export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  const buf = await fs.readFile(file);
  const bad = (why: string) => new InputError(`${file}: not a valid safetensors file: ${why}`);
  if (buf.length < 8) throw bad("shorter than 8 bytes");
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8) throw bad(`header length ${n} exceeds the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>;
  } catch {
    throw bad("header is not JSON");
  }
  const dataStart = 8 + n;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors = new Map<string, STTensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets } = v as { dtype: STDtype; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in ITEM)) throw bad(`${name}: unsupported dtype ${dtype}`);
    const [b, e] = data_offsets;
    const bytes = shape.reduce((a, c) => a * c, 1) * ITEM[dtype];
    if (e - b !== bytes || dataStart + e > buf.length) throw bad(`${name}: data_offsets do not match shape`);
    // Copy so the typed array is aligned and independent of the file buffer.
    const raw = new Uint8Array(bytes);
    raw.set(buf.subarray(dataStart + b, dataStart + e));
    const data =
      dtype === "F32" ? new Float32Array(raw.buffer) : dtype === "I32" ? new Int32Array(raw.buffer) : new Float64Array(raw.buffer);
    tensors.set(name, { dtype, shape, data });
  }
  return { tensors, metadata };
}
