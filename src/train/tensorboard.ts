// TensorBoard event files written by hand: TFRecord framing around
// hand-encoded `Event` protobufs carrying `Summary.Value.simple_value` scalars.
//   record = u64le length | u32le masked_crc32c(length) | data | u32le masked_crc32c(data)
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
import { closeSync, mkdirSync, openSync, writeSync, fsyncSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { maskedCrc32c } from "./crc32c.js";

class ProtoWriter {
  private bytes: number[] = [];
  private varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }
  private tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }
  double(field: number, v: number): this {
    this.tag(field, 1);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    this.bytes.push(...b);
    return this;
  }
  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.bytes.push(...b);
    return this;
  }
  int64(field: number, v: number): this {
    this.tag(field, 0);
    this.varint(BigInt(Math.trunc(v)));
    return this;
  }
  bytesField(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.varint(BigInt(data.length));
    this.bytes.push(...data);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytesField(field, Buffer.from(s, "utf8"));
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** One TFRecord-framed record. */
export function frameRecord(data: Uint8Array): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(data.length));
  const lenCrc = Buffer.alloc(4);
  lenCrc.writeUInt32LE(maskedCrc32c(len));
  const dataCrc = Buffer.alloc(4);
  dataCrc.writeUInt32LE(maskedCrc32c(data));
  return Buffer.concat([len, lenCrc, data, dataCrc]);
}

export function encodeScalarEvent(wallTime: number, step: number, scalars: Record<string, number>): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, value] of Object.entries(scalars)) {
    summary.bytesField(1, new ProtoWriter().string(1, tag).float(2, value).finish());
  }
  return new ProtoWriter().double(1, wallTime).int64(2, step).bytesField(5, summary.finish()).finish();
}

export function encodeVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).string(3, "brain.Event:2").finish();
}

/** Appends scalar events to `<dir>/events.out.tfevents.<time>.<host>`. */
export class EventWriter {
  readonly file: string;
  private fd: number | null;
  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    const now = Date.now() / 1000;
    this.file = path.join(dir, `events.out.tfevents.${Math.floor(now)}.${hostname()}.${process.pid}`);
    this.fd = openSync(this.file, "a");
    writeSync(this.fd, frameRecord(encodeVersionEvent(now)));
  }
  scalars(step: number, values: Record<string, number>, wallTime = Date.now() / 1000): void {
    if (this.fd === null) throw new Error("EventWriter is closed");
    writeSync(this.fd, frameRecord(encodeScalarEvent(wallTime, step, values)));
  }
  flush(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }
  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
