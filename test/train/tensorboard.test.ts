import { readdirSync, readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EventWriter } from "../../src/train/tensorboard.js";

// An independent reader: bitwise CRC-32C (no table), TFRecord framing and a
// minimal protobuf decoder for Event/Summary/Value.
function crc32cBitwise(bytes: Uint8Array): number {
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
function decode(buf: Buffer): Field[] {
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
    else if (wire === 1) { out.push({ no, wire, value: buf.subarray(i, i + 8) }); i += 8; }
    else if (wire === 5) { out.push({ no, wire, value: buf.subarray(i, i + 4) }); i += 4; }
    else if (wire === 2) { const n = Number(varint()); out.push({ no, wire, value: buf.subarray(i, i + n) }); i += n; }
    else throw new Error(`wire type ${wire}`);
  }
  return out;
}

describe("TensorBoard event files", () => {
  it("are readable by an independent TFRecord/protobuf reader", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-tb-"));
    const w = new EventWriter(dir);
    w.scalars(10, { "train/loss": 2.5, "train/lr": 1e-4 }, 1700000000.25);
    w.scalars(300, { "train/loss": 0.125 }, 1700000001.5);
    w.close();
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^events\.out\.tfevents\./);
    const buf = readFileSync(path.join(dir, files[0]!));
    const records: Buffer[] = [];
    let off = 0;
    while (off < buf.length) {
      const lenBytes = buf.subarray(off, off + 8);
      const len = Number(lenBytes.readBigUInt64LE(0));
      expect(unmask(buf.readUInt32LE(off + 8))).toBe(crc32cBitwise(lenBytes));
      const data = buf.subarray(off + 12, off + 12 + len);
      expect(unmask(buf.readUInt32LE(off + 12 + len))).toBe(crc32cBitwise(data));
      records.push(data);
      off += 12 + len + 4;
    }
    expect(off).toBe(buf.length);
    expect(records).toHaveLength(3);
    const first = decode(records[0]!);
    expect(first.find((f) => f.no === 3)!.value.toString()).toBe("brain.Event:2");
    const scalars: [number, number, string, number][] = [];
    for (const r of records.slice(1)) {
      const ev = decode(r);
      const wall = (ev.find((f) => f.no === 1)!.value as Buffer).readDoubleLE(0);
      const step = Number(ev.find((f) => f.no === 2)!.value as bigint);
      for (const v of decode(ev.find((f) => f.no === 5)!.value as Buffer).filter((f) => f.no === 1)) {
        const val = decode(v.value as Buffer);
        const tag = (val.find((f) => f.no === 1)!.value as Buffer).toString();
        const x = (val.find((f) => f.no === 2)!.value as Buffer).readFloatLE(0);
        scalars.push([wall, step, tag, x]);
      }
    }
    expect(scalars).toEqual([
      [1700000000.25, 10, "train/loss", 2.5],
      [1700000000.25, 10, "train/lr", Math.fround(1e-4)],
      [1700000001.5, 300, "train/loss", 0.125],
    ]);
  });
});
