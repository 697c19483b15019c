// Reads a PyTorch state-dict archive (`torch.save(model.state_dict(), f)`, as
// open_clip's `open_clip_pytorch_model.bin`) without executing anything.
//
// The file is a zip (entries stored, not compressed) holding `<name>/data.pkl`
// and one `<name>/data/<key>` per storage. The pickle is interpreted by a
// small virtual machine that knows only the opcodes such files use and only
// these callables: collections.OrderedDict, torch._utils._rebuild_tensor_v2 /
// _rebuild_parameter and the torch storage classes. Any other global (a
// pickle can name os.system) is refused with its name, before anything runs:
// Python's pickle would call it. Tensors are read from their storage entries
// by file offset, one at a time, so the archive's size does not matter.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { InputError } from "../util/errors.js";
import { halfToFloat } from "./safetensors.js";

export type ArchiveDtype = "F32" | "F16" | "BF16" | "F64" | "I32" | "I64";

export interface ArchiveTensor {
  dtype: ArchiveDtype;
  shape: number[];
  /** Values as float32 (half, bfloat16, float64 and integers converted). */
  values: Float32Array;
}

const STORAGES: Record<string, { dtype: ArchiveDtype; bytes: number }> = {
  FloatStorage: { dtype: "F32", bytes: 4 },
  HalfStorage: { dtype: "F16", bytes: 2 },
  BFloat16Storage: { dtype: "BF16", bytes: 2 },
  DoubleStorage: { dtype: "F64", bytes: 8 },
  IntStorage: { dtype: "I32", bytes: 4 },
  LongStorage: { dtype: "I64", bytes: 8 },
};

/** Largest pickle read into memory (a state dict's pickle is kilobytes to a few MB). */
const MAX_PICKLE_BYTES = 256 * 2 ** 20;

// ------------------------------------------------------------------ zip ---

interface ZipEntry {
  name: string;
  /** Offset of the entry's data in the file. */
  offset: number;
  size: number;
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, b, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === len ? b : b.subarray(0, got);
}

/** The zip's central directory (ZIP64 too), with each stored entry's data offset. */
function zipEntries(fd: number, file: string): Map<string, ZipEntry> {
  const size = fstatSync(fd).size;
  const tailLen = Math.min(size, 65_557);
  const tail = readAt(fd, size - tailLen, tailLen);
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new InputError(`${file}: not a zip archive (no end of central directory); is it a PyTorch archive from torch.save?`);
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  const loc = eocd - 20;
  if (loc >= 0 && tail.readUInt32LE(loc) === 0x07064b50) {
    // ZIP64 end of central directory record (archives over 4 GiB or 65535 entries).
    const rec = readAt(fd, Number(tail.readBigUInt64LE(loc + 8)), 56);
    if (rec.readUInt32LE(0) !== 0x06064b50) throw new InputError(`${file}: broken ZIP64 end of central directory`);
    count = Number(rec.readBigUInt64LE(32));
    cdSize = Number(rec.readBigUInt64LE(40));
    cdOffset = Number(rec.readBigUInt64LE(48));
  }
  if (cdOffset + cdSize > size) throw new InputError(`${file}: central directory past the end of the file (truncated?)`);
  const cd = readAt(fd, cdOffset, cdSize);
  const out = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) throw new InputError(`${file}: broken central directory entry ${i}`);
    const method = cd.readUInt16LE(p + 10);
    let csize = cd.readUInt32LE(p + 20);
    let usize = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28), extraLen = cd.readUInt16LE(p + 30), commentLen = cd.readUInt16LE(p + 32);
    let local = cd.readUInt32LE(p + 42);
    const name = cd.toString("utf8", p + 46, p + 46 + nameLen);
    // ZIP64 extra field: the 64-bit values of the fields set to 0xffffffff, in order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = cd.readUInt16LE(e), len = cd.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (usize === 0xffffffff) (usize = Number(cd.readBigUInt64LE(q))), (q += 8);
        if (csize === 0xffffffff) (csize = Number(cd.readBigUInt64LE(q))), (q += 8);
        if (local === 0xffffffff) local = Number(cd.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    if (method !== 0) throw new InputError(`${file}: entry ${name} is compressed (method ${method}); torch.save stores entries uncompressed`);
    const lh = readAt(fd, local, 30);
    if (lh.length < 30 || lh.readUInt32LE(0) !== 0x04034b50) throw new InputError(`${file}: broken local header of ${name}`);
    const offset = local + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
    if (offset + csize > size) throw new InputError(`${file}: entry ${name} runs past the end of the file (truncated?)`);
    out.set(name, { name, offset, size: csize });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

// --------------------------------------------------------------- pickle ---

/** A tensor record of the pickle, resolved against the zip once the pickle is read. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}
class StorageRef {
  constructor(
    readonly key: string,
    readonly type: string,
    readonly numel: number,
  ) {}
}
class Global {
  constructor(readonly module: string, readonly name: string) {}
}
const MARK = Symbol("mark");

const ALLOWED = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
]);

function call(fn: unknown, args: unknown[], file: string): unknown {
  if (!(fn instanceof Global)) throw new InputError(`${file}: the pickle calls something that is not a known function`);
  const name = `${fn.module}.${fn.name}`;
  if (name === "collections.OrderedDict") return new Map<unknown, unknown>();
  if (name === "torch._utils._rebuild_tensor_v2") {
    const [storage, offset, size, stride] = args as [unknown, number, number[], number[]];
    if (!(storage instanceof StorageRef)) throw new InputError(`${file}: a tensor record without a storage`);
    return new TensorRef(storage, offset, size, stride);
  }
  if (name === "torch._utils._rebuild_parameter") return args[0];
  throw new InputError(`${file}: refusing to call ${name} from the pickle`);
}

/** Runs a state-dict pickle; tensors come back as TensorRefs. */
function unpickle(data: Buffer, file: string): unknown {
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new InputError(`${file}: broken pickle (no mark)`);
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (target instanceof Map) for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
    else throw new InputError(`${file}: broken pickle (items set on a non-dict)`);
  };
  for (;;) {
    if (p >= data.length) throw new InputError(`${file}: pickle ends without STOP (truncated?)`);
    const op = data[p++]!;
    switch (op) {
      case 0x80: p++; break; // PROTO
      case 0x95: p += 8; break; // FRAME (protocol 4)
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x28: stack.push(MARK); break; // MARK
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(data[p]!); p += 1; break; // BININT1
      case 0x4d: stack.push(data.readUInt16LE(p)); p += 2; break; // BININT2
      case 0x4a: stack.push(data.readInt32LE(p)); p += 4; break; // BININT
      case 0x8a: { // LONG1
        const n = data[p++]!;
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[p + i]!);
        if (n > 0 && data[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        p += n;
        break;
      }
      case 0x47: stack.push(data.readDoubleBE(p)); p += 8; break; // BINFLOAT
      case 0x58: { const n = data.readUInt32LE(p); stack.push(data.toString("utf8", p + 4, p + 4 + n)); p += 4 + n; break; } // BINUNICODE
      case 0x8c: { const n = data[p]!; stack.push(data.toString("utf8", p + 1, p + 1 + n)); p += 1 + n; break; } // SHORT_BINUNICODE
      case 0x71: memo.set(data[p]!, stack.at(-1)); p += 1; break; // BINPUT
      case 0x72: memo.set(data.readUInt32LE(p), stack.at(-1)); p += 4; break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, stack.at(-1)); break; // MEMOIZE
      case 0x68: stack.push(memo.get(data[p]!)); p += 1; break; // BINGET
      case 0x6a: stack.push(memo.get(data.readUInt32LE(p))); p += 4; break; // LONG_BINGET
      case 0x63: { // GLOBAL "module\nname\n"
        const a = data.indexOf(0x0a, p), b = data.indexOf(0x0a, a + 1);
        const g = new Global(data.toString("utf8", p, a), data.toString("utf8", a + 1, b));
        p = b + 1;
        if (!ALLOWED.has(`${g.module}.${g.name}`)) {
          throw new InputError(`${file}: refusing to load: the pickle references ${g.module}.${g.name}, which a plain state dict never does (loading it in Python would run it)`);
        }
        stack.push(g);
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = stack.pop() as string, module = stack.pop() as string;
        if (!ALLOWED.has(`${module}.${name}`)) {
          throw new InputError(`${file}: refusing to load: the pickle references ${module}.${name}, which a plain state dict never does (loading it in Python would run it)`);
        }
        stack.push(new Global(module, name));
        break;
      }
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([stack.pop()]); break; // TUPLE1
      case 0x86: { const b = stack.pop(), a = stack.pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = stack.pop(), b = stack.pop(), a = stack.pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x51: { // BINPERSID: ("storage", type, key, location, numel)
        const pid = stack.pop() as unknown[];
        if (!Array.isArray(pid) || pid[0] !== "storage" || !(pid[1] instanceof Global)) throw new InputError(`${file}: unknown persistent id in the pickle`);
        stack.push(new StorageRef(String(pid[2]), pid[1].name, Number(pid[4])));
        break;
      }
      case 0x52: { const args = stack.pop() as unknown[]; const fn = stack.pop(); stack.push(call(fn, args, file)); break; } // REDUCE
      case 0x62: stack.pop(); break; // BUILD: an OrderedDict's state (_metadata) is not needed
      case 0x73: { const v = stack.pop(), k = stack.pop(); setItems(stack.at(-1), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(stack.at(-1), items); break; } // SETITEMS
      case 0x61: { const v = stack.pop(); (stack.at(-1) as unknown[]).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); (stack.at(-1) as unknown[]).push(...items); break; } // APPENDS
      case 0x2e: return stack.pop(); // STOP
      default:
        throw new InputError(`${file}: the pickle uses opcode 0x${op.toString(16)}, which a plain state dict does not; refusing to interpret it`);
    }
  }
}

// ------------------------------------------------------------- tensors ---

function toFloat32(raw: Buffer, dtype: ArchiveDtype, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    switch (dtype) {
      case "F32": out[i] = raw.readFloatLE(4 * i); break;
      case "F64": out[i] = raw.readDoubleLE(8 * i); break;
      case "I32": out[i] = raw.readInt32LE(4 * i); break;
      case "I64": out[i] = Number(raw.readBigInt64LE(8 * i)); break;
      case "F16": out[i] = halfToFloat(raw.readUInt16LE(2 * i)); break;
      case "BF16": out[i] = bf16ToFloat(raw.readUInt16LE(2 * i)); break;
    }
  }
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bf16ToFloat(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

/** Whether `file` starts like a zip archive (torch.save's format) rather than a safetensors header. */
export function isPytorchArchive(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    return readAt(fd, 0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
  } finally {
    closeSync(fd);
  }
}

/**
 * All tensors of a PyTorch state-dict archive, by name. A checkpoint that
 * wraps the state dict (`{"state_dict": ...}`, as training scripts save it)
 * is unwrapped, and a DataParallel `module.` prefix is dropped.
 */
export function readPytorchStateDict(file: string): Map<string, ArchiveTensor> {
  const fd = openSync(file, "r");
  try {
    const entries = zipEntries(fd, file);
    const pkl = [...entries.values()].find((e) => e.name.endsWith("/data.pkl") || e.name === "data.pkl");
    if (!pkl) throw new InputError(`${file}: no data.pkl in the archive; not a torch.save file`);
    if (pkl.size > MAX_PICKLE_BYTES) throw new InputError(`${file}: data.pkl is ${pkl.size} bytes, over ${MAX_PICKLE_BYTES}; not a plain state dict`);
    const prefix = pkl.name.slice(0, pkl.name.length - "data.pkl".length);
    let root = unpickle(readAt(fd, pkl.offset, pkl.size), file);
    if (root instanceof Map && root.get("state_dict") instanceof Map) root = root.get("state_dict");
    if (!(root instanceof Map)) throw new InputError(`${file}: the pickle holds no dict of tensors`);
    const out = new Map<string, ArchiveTensor>();
    for (const [k, v] of root) {
      if (!(v instanceof TensorRef)) continue; // non-tensor entries (epoch counters, ...)
      const name = String(k).replace(/^module\./, "");
      const st = STORAGES[v.storage.type]!;
      const entry = entries.get(`${prefix}data/${v.storage.key}`);
      if (!entry) throw new InputError(`${file}: tensor ${name}: storage ${v.storage.key} is missing from the archive`);
      const n = v.shape.reduce((a, b) => a * b, 1);
      // Largest element index the view reads, so only that much is read.
      let last = v.offset;
      for (let d = 0; d < v.shape.length; d++) last += (v.shape[d]! - 1) * v.stride[d]!;
      if (n > 0 && (last + 1) * st.bytes > entry.size) throw new InputError(`${file}: tensor ${name} reads past its storage (${entry.size} bytes)`);
      const span = n === 0 ? 0 : last - v.offset + 1;
      const flat = toFloat32(readAt(fd, entry.offset + v.offset * st.bytes, span * st.bytes), st.dtype, span);
      out.set(name, { dtype: st.dtype, shape: v.shape, values: gather(flat, v.shape, v.stride) });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Row-major values of a strided view (storage offset already applied). */
function gather(flat: Float32Array, shape: number[], stride: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  let contiguous = true;
  for (let d = shape.length - 1, s = 1; d >= 0; s *= shape[d]!, d--) if (shape[d]! > 1 && stride[d] !== s) contiguous = false;
  if (contiguous) return flat.length === n ? flat : flat.slice(0, n);
  const out = new Float32Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += idx[d]! * stride[d]!;
    out[i] = flat[src]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}
