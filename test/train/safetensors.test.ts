import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors } from "../../src/model/safetensors.js";

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
});
