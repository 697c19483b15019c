// An independent TensorBoard event-file reader for tests: bitwise CRC-32C (no
// table, unlike src/train/crc32c.ts), TFRecord framing with CRC checks, and a
// minimal protobuf decoder for Event / Summary / Summary.Value.
import { readFileSync } from "node:fs";

export function crc32cBitwise(bytes: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function unmask(m: number): number {
  const r = (m - 0xa282ead8) >>> 0;
  return ((r << 15) | (r >>> 17)) >>> 0;
}

type Field = { no: number; wire: number; value: bigint | Buffer };

export function decodeProto(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = () => {
    let x = 0n;
    let s = 0n;
    for (;;) {
      const b = buf[i++]!;
      x |= BigInt(b & 0x7f) << s;
      s += 7n;
      if (!(b & 0x80)) return x;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const no = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, value: varint() });
    else if (wire === 1) {
      out.push({ no, wire, value: buf.subarray(i, i + 8) });
      i += 8;
    } else if (wire === 5) {
      out.push({ no, wire, value: buf.subarray(i, i + 4) });
      i += 4;
    } else if (wire === 2) {
      const n = Number(varint());
      out.push({ no, wire, value: buf.subarray(i, i + n) });
      i += n;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

export interface EventFile {
  fileVersion: string | null;
  /** [wall_time, step, tag, simple_value] in file order. */
  scalars: [number, number, string, number][];
}

/** Parse a whole event file; throws on a bad length or data CRC. */
export function readEventFile(file: string): EventFile {
  const buf = readFileSync(file);
  const records: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const lenBytes = buf.subarray(off, off + 8);
    const len = Number(lenBytes.readBigUInt64LE(0));
    if (unmask(buf.readUInt32LE(off + 8)) !== crc32cBitwise(lenBytes)) throw new Error(`bad length CRC at ${off}`);
    const data = buf.subarray(off + 12, off + 12 + len);
    if (unmask(buf.readUInt32LE(off + 12 + len)) !== crc32cBitwise(data)) throw new Error(`bad data CRC at ${off}`);
    records.push(data);
    off += 12 + len + 4;
  }
  if (off !== buf.length) throw new Error("trailing bytes");
  let fileVersion: string | null = null;
  const scalars: EventFile["scalars"] = [];
  for (const r of records) {
    const ev = decodeProto(r);
    const fv = ev.find((f) => f.no === 3);
    if (fv) fileVersion = fv.value.toString();
    const summary = ev.find((f) => f.no === 5);
    if (!summary) continue;
    const wall = (ev.find((f) => f.no === 1)!.value as Buffer).readDoubleLE(0);
    const step = Number((ev.find((f) => f.no === 2)?.value as bigint | undefined) ?? 0n);
    for (const v of decodeProto(summary.value as Buffer).filter((f) => f.no === 1)) {
      const val = decodeProto(v.value as Buffer);
      const tag = (val.find((f) => f.no === 1)!.value as Buffer).toString();
      const x = (val.find((f) => f.no === 2)!.value as Buffer).readFloatLE(0);
      scalars.push([wall, step, tag, x]);
    }
  }
  return { fileVersion, scalars };
}
