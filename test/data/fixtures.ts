// Small real input files for ingest tests, generated in code: images encoded
// by sharp, tars packed by tar-stream, parquet written by hyparquet-writer.
import { mkdtempSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { deflateSync } from "node:zlib";
import sharp from "sharp";
import tar from "tar-stream";
import { parquetWriteBuffer } from "hyparquet-writer";

export function tmpDir(prefix = "clipts-ingest-"): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export type ImageKind = "jpeg" | "png" | "webp" | "gray-png" | "alpha-png" | "cmyk-jpeg" | "png16" | "exif6-jpeg";

/** w x h RGB pixels: a horizontal and a vertical gradient plus seeded noise, so resizes have detail to filter. */
function texturedPixels(w: number, h: number, seed: number): Buffer {
  const px = Buffer.alloc(w * h * 3);
  let s = seed * 2654435761 >>> 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const i = (y * w + x) * 3;
      px[i] = (x * 255) / w;
      px[i + 1] = (y * 255) / h;
      px[i + 2] = (s >>> 24) & 0xff;
    }
  }
  return px;
}

/** Encode a small textured test image of the given kind; `seed` varies the noise so bytes differ. */
export async function makeImage(kind: ImageKind, width: number, height: number, seed = 0): Promise<Buffer> {
  const base = () => sharp(texturedPixels(width, height, seed), { raw: { width, height, channels: 3 } });
  switch (kind) {
    case "jpeg":
      return base().jpeg({ quality: 90 }).toBuffer();
    case "png":
      return base().png().toBuffer();
    case "webp":
      return base().webp().toBuffer();
    case "gray-png":
      return base().toColourspace("b-w").png().toBuffer();
    case "alpha-png":
      return base().ensureAlpha(0.5).png().toBuffer();
    case "cmyk-jpeg":
      return base().toColourspace("cmyk").jpeg().toBuffer();
    case "png16":
      return base().toColourspace("rgb16").png().toBuffer();
    case "exif6-jpeg":
      // Stored width x height; orientation 6 (rotate 90°) displays height x width.
      return base().jpeg().withMetadata({ orientation: 6 }).toBuffer();
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/**
 * A decompression bomb: a valid PNG whose header declares width x height
 * 1-bit grayscale pixels and whose IDAT holds that many zero rows, deflated
 * to a few KB (a 20000 x 20000 image is ~50 MB of raw rows, ~50 KB on disk).
 */
export function makeBombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // grayscale
  const rowBytes = 1 + Math.ceil(width / 8); // filter byte + packed pixels
  const raw = Buffer.alloc(rowBytes * height); // all zero: filter 0, black
  const idat = deflateSync(raw, { level: 9 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk("IHDR", ihdr), pngChunk("IDAT", idat), pngChunk("IEND", Buffer.alloc(0))]);
}

/** Pack members into a tar file (in the given order). */
export async function writeTar(file: string, members: { name: string; data: Buffer | string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const m of members) {
    const data = typeof m.data === "string" ? Buffer.from(m.data, "utf8") : m.data;
    await new Promise<void>((resolve, reject) => pack.entry({ name: m.name, size: data.length }, data, (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  const bytes = Buffer.concat(chunks);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, bytes);
  return bytes;
}

export type ParquetColumn = { name: string; data: unknown[]; type: "STRING" | "BYTE_ARRAY" | "DOUBLE" | "INT32" | "INT64" | "BOOLEAN" };

export async function writeParquet(file: string, columns: ParquetColumn[], rowGroupSize?: number): Promise<void> {
  const buf = parquetWriteBuffer({ columnData: columns as never, ...(rowGroupSize ? { rowGroupSize } : {}) });
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, Buffer.from(buf));
}

export async function writeFile(file: string, data: Buffer | string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, data);
}
