import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EventWriter } from "../../src/train/tensorboard.js";
import { crc32c } from "../../src/train/crc32c.js";
import { crc32cBitwise, readEventFile } from "./event-reader.js";

describe("TensorBoard event files", () => {
  it("CRC-32C matches the standard check value", () => {
    // RFC 3720 / iSCSI check value of "123456789".
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32cBitwise(Buffer.from("123456789"))).toBe(0xe3069283);
  });

  it("are readable by an independent TFRecord/protobuf reader", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-tb-"));
    const w = new EventWriter(dir);
    w.scalars(10, { "train/loss": 2.5, "train/lr": 1e-4 }, 1700000000.25);
    w.scalars(300, { "train/loss": 0.125 }, 1700000001.5);
    w.close();
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^events\.out\.tfevents\./);
    const ev = readEventFile(path.join(dir, files[0]!));
    expect(ev.fileVersion).toBe("brain.Event:2");
    expect(ev.scalars).toEqual([
      [1700000000.25, 10, "train/loss", 2.5],
      [1700000000.25, 10, "train/lr", Math.fround(1e-4)],
      [1700000001.5, 300, "train/loss", 0.125],
    ]);
  });
});
