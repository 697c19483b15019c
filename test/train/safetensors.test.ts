import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { readSafetensors, toBf16Bits, writeSafetensors } from "../../src/model/safetensors.js";

/** A safetensors file from a header object and raw data bytes, as another writer would make it. */
function rawFile(header: unknown, data: Buffer): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "clipts-st-")), "x.safetensors");
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, data]));
  return file;
}
const u16 = (...xs: number[]) => Buffer.from(Uint16Array.from(xs).buffer);

/** Nearest bfloat16 of x by float64 distance, ties to even: an independent reference for toBf16Bits. */
function bf16Reference(x: number): number {
  const b = new Uint32Array(Float32Array.from([x]).buffer)[0]!;
  const lo = b >>> 16, hi = lo + 1;
  const val = (h: number) => new Float32Array(Uint32Array.from([h << 16]).buffer)[0]!;
  const dlo = Math.abs(x - val(lo)), dhi = Math.abs(val(hi) - x);
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi & 0xffff;
  return lo % 2 === 0 ? lo : hi & 0xffff;
}

describe("safetensors", () => {
  it("writes the documented byte layout and reads it back", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-st-"));
    const file = path.join(dir, "a.safetensors");
    const w = Float32Array.from([1.5, -2, 3.25, 0, 1e-8, -7]);
    const ids = Int32Array.from([-1, 2147483647]);
    await writeSafetensors(
      file,
      [
        { name: "visual.proj", shape: [2, 3], dtype: "F32", data: () => w },
        { name: "ids", shape: [2], dtype: "I32", data: () => ids },
      ],
      { step: "12", note: "x" },
    );
    const buf = readFileSync(file);
    // Byte-by-byte: u64 little-endian header length.
    const n = buf[0]! + buf[1]! * 256 + buf[2]! * 65536 + buf[3]! * 16777216;
    expect([buf[4], buf[5], buf[6], buf[7]]).toEqual([0, 0, 0, 0]);
    expect((8 + n) % 8).toBe(0);
    const headerText = buf.subarray(8, 8 + n).toString("utf8");
    expect(headerText.trimEnd().length).toBeLessThanOrEqual(n);
    expect(/^ *$/.test(headerText.slice(headerText.trimEnd().length))).toBe(true);
    const header = JSON.parse(headerText);
    expect(header.__metadata__).toEqual({ step: "12", note: "x" });
    expect(header["visual.proj"]).toEqual({ dtype: "F32", shape: [2, 3], data_offsets: [0, 24] });
    expect(header.ids).toEqual({ dtype: "I32", shape: [2], data_offsets: [24, 32] });
    expect(buf.length).toBe(8 + n + 32);
    // Raw little-endian payload.
    const d = 8 + n;
    expect(buf.readFloatLE(d)).toBe(1.5);
    expect(buf.readFloatLE(d + 8)).toBe(3.25);
    expect(buf.readInt32LE(d + 24)).toBe(-1);
    expect(buf.readInt32LE(d + 28)).toBe(2147483647);

    const back = await readSafetensors(file);
    expect(back.metadata).toEqual({ step: "12", note: "x" });
    expect(Array.from(back.tensors.get("visual.proj")!.data)).toEqual(Array.from(w));
    expect(Array.from(back.tensors.get("ids")!.data)).toEqual([-1, 2147483647]);
  });

  it("rejects a truncated file with a clear error", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-st-"));
    const file = path.join(dir, "a.safetensors");
    await writeSafetensors(file, [{ name: "x", shape: [4], dtype: "F32", data: () => new Float32Array(4) }]);
    const { writeFileSync } = await import("node:fs");
    writeFileSync(file, readFileSync(file).subarray(0, -4));
    await expect(readSafetensors(file)).rejects.toThrow(/x: data_offsets/);
  });

  it("reads F16 and BF16 (as open_clip exports them) as float32 values", async () => {
    // IEEE half: 1, -2, 0.5, 65504 (largest), 2^-24 (smallest subnormal), +inf.
    const half = u16(0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00);
    // bfloat16 = the top 16 bits of a float32: 1, -2, 3.140625, 1e-40 region subnormal 0x0001.
    const bf = u16(0x3f80, 0xc000, 0x4049, 0x0001);
    const file = rawFile(
      { h: { dtype: "F16", shape: [2, 3], data_offsets: [0, 12] }, b: { dtype: "BF16", shape: [4], data_offsets: [12, 20] } },
      Buffer.concat([half, bf]),
    );
    const { tensors } = await readSafetensors(file);
    expect(tensors.get("h")!.dtype).toBe("F32");
    expect(Array.from(tensors.get("h")!.data)).toEqual([1, -2, 0.5, 65504, 2 ** -24, Infinity]);
    expect(Array.from(tensors.get("b")!.data)).toEqual([1, -2, 3.140625, new Float32Array(Uint32Array.from([0x00010000]).buffer)[0]]);
  });

  it("writes bfloat16 rounded to nearest even, and reads it back", async () => {
    const xs = new Float32Array(2000);
    for (let i = 0; i < xs.length; i++) xs[i] = (Math.sin(i * 12.9898) * 43758.5453) % 7;
    xs.set([1 + 2 ** -8, 1 + 3 * 2 ** -8, -0, 65504, 1e-39]); // ties both ways, signed zero, big, subnormal
    const bits = toBf16Bits(xs);
    for (let i = 0; i < xs.length; i++) expect(bits[i], `value ${xs[i]}`).toBe(bf16Reference(xs[i]!));
    const file = path.join(mkdtempSync(path.join(tmpdir(), "clipts-st-")), "b.safetensors");
    await writeSafetensors(file, [{ name: "w", shape: [2000], dtype: "BF16", data: () => xs }]);
    const header = JSON.parse(readFileSync(file).subarray(8, 8 + Number(readFileSync(file).readBigUInt64LE(0))).toString());
    expect(header.w).toEqual({ dtype: "BF16", shape: [2000], data_offsets: [0, 4000] });
    const back = (await readSafetensors(file)).tensors.get("w")!.data as Float32Array;
    for (let i = 0; i < xs.length; i++) expect(new Uint32Array(back.buffer)[i]).toBe((bits[i]! << 16) >>> 0);
  });

  it("reads tensors at their offsets whatever the header's order", async () => {
    const a = Buffer.from(Float32Array.from([1, 2, 3]).buffer), b = Buffer.from(Int32Array.from([7, 8]).buffer);
    // b's bytes come first in the data, a's entry first in the header.
    const file = rawFile({ a: { dtype: "F32", shape: [3], data_offsets: [8, 20] }, b: { dtype: "I32", shape: [2], data_offsets: [0, 8] } }, Buffer.concat([b, a]));
    const { tensors } = await readSafetensors(file);
    expect(Array.from(tensors.get("a")!.data)).toEqual([1, 2, 3]);
    expect(Array.from(tensors.get("b")!.data)).toEqual([7, 8]);
  });

  it("refuses bad headers, naming the tensor", async () => {
    const f32 = (n: number) => Buffer.alloc(4 * n);
    const cases: [unknown, Buffer, RegExp][] = [
      [null, f32(0), /header is not a JSON object/],
      [{ x: null }, f32(1), /x: entry is not an object/],
      [{ x: { dtype: "F32", shape: [1], data_offsets: [-4, 0] } }, f32(1), /x: data_offsets \[-4,0\] is not \[begin, end\]/],
      [{ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, y: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, f32(3), /y: data_offsets \[4, 12\] overlap the previous tensor/],
      [{ x: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32(2), /x: 4 bytes before it belong to no tensor/],
      [{ x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32(2), /4 bytes after the last tensor belong to no tensor/],
      [{ x: { dtype: "U8", shape: [4], data_offsets: [0, 4] } }, f32(1), /x: unsupported dtype "U8"/],
      [{ x: { dtype: "F32", shape: ["2"], data_offsets: [0, 8] } }, f32(2), /x: shape \["2"\] is not a list of sizes/],
      [{ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, f32(2), /x: data_offsets \[0, 8\] hold 8 bytes, its F32 shape \[3\] needs 12/],
      [{ __metadata__: { step: 3 }, x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32(1), /__metadata__ must map strings to strings/],
    ];
    for (const [header, data, err] of cases) {
      const file = rawFile(header, data);
      await expect(readSafetensors(file), JSON.stringify(header)).rejects.toThrow(err);
      await expect(readSafetensors(file)).rejects.toThrow(file);
    }
  });
});
