import { describe, it, expect } from "vitest";
import sharp from "sharp";
import { crc32, deflateSync } from "node:zlib";
import {
  CLIP_MEAN, CLIP_STD, SIGLIP_MEAN, SIGLIP_STD, DEFAULT_TRANSFORM,
  randomResizedCropBox, resizeShortest, centerCropBox, roundHalfEven,
  preprocessImage, transformToRgb, type TransformSpec,
} from "../../src/image/transforms.js";
import { Rng } from "../../src/util/hash.js";
import { imageAddon, type ImageAddon } from "../../src/image/image-native.js";
import { makeImage } from "./fixtures.js";

// Boxes computed by torchvision 0.14's own RandomResizedCrop.get_params
// (ratio 3/4..4/3) with its random draws replaced by u_k = frac(c + k*phi):
// uniform_(a, b) -> a + (b-a)*u, randint(lo, hi) -> lo + floor(u*(hi-lo)).
// Columns: W, H, scale, c, [left, top, width, height], draws used.
// Includes first-try hits, later-try hits and the center-crop fallback.
const TORCHVISION_BOXES: [number, number, [number, number], number, number[], number][] = [
  [500, 375, [0.9, 1.0], 0.1, [4, 5, 477, 367], 6],
  [500, 375, [0.08, 1.0], 0.55, [80, 8, 301, 365], 4],
  [375, 500, [0.9, 1.0], 0.17, [2, 12, 366, 482], 6],
  [375, 500, [0.08, 1.0], 0.58, [28, 106, 311, 370], 4],
  [32, 32, [0.9, 1.0], 0.24, [0, 0, 32, 32], 18],
  [32, 32, [0.08, 1.0], 0.61, [4, 4, 24, 28], 4],
  [640, 480, [0.9, 1.0], 0.31, [5, 4, 605, 473], 4],
  [640, 480, [0.08, 1.0], 0.64, [374, 90, 253, 222], 8],
  [1000, 50, [0.9, 1.0], 0.38, [466, 0, 67, 50], 20],
  [1000, 50, [0.08, 1.0], 0.67, [466, 0, 67, 50], 20],
  [50, 1000, [0.9, 1.0], 0.45, [0, 466, 50, 67], 20],
  [50, 1000, [0.08, 1.0], 0.7, [0, 466, 50, 67], 20],
  [224, 224, [0.9, 1.0], 0.52, [0, 0, 224, 224], 20],
  [224, 224, [0.08, 1.0], 0.73, [22, 21, 186, 203], 4],
  [333, 77, [0.9, 1.0], 0.59, [115, 0, 103, 77], 20],
  [333, 77, [0.08, 1.0], 0.76, [7, 2, 86, 72], 16],
  [17, 23, [0.9, 1.0], 0.66, [0, 0, 17, 23], 20],
  [17, 23, [0.08, 1.0], 0.79, [0, 0, 17, 18], 4]
];
const PHI = 0.6180339887498949;

const spec = (o: Partial<TransformSpec>): TransformSpec => ({ ...DEFAULT_TRANSFORM, ...o });

/** w x h PNG whose red channel is x and green is y (a linear ramp), blue 100. */
async function rampPng(w: number, h: number): Promise<Uint8Array> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set([x, y, 100], (y * w + x) * 3);
  return new Uint8Array(await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
}

/**
 * A 16-bit RGB PNG written byte by byte (sharp's own 16-bit conversion does
 * not store v*257), so the test knows exactly which samples the file holds.
 */
function png16(w: number, h: number, samples: Uint16Array): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    td.copy(out, 4);
    out.writeUInt32BE(crc32(td), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([16, 2, 0, 0, 0], 8); // bit depth 16, colour type RGB
  const rows = Buffer.alloc(h * (1 + w * 6));
  for (let y = 0; y < h; y++) {
    rows[y * (1 + w * 6)] = 0; // filter: none
    for (let k = 0; k < w * 3; k++) rows.writeUInt16BE(samples[y * w * 3 + k]!, y * (1 + w * 6) + 1 + 2 * k);
  }
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([sig, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]));
}

async function rgbOf(bytes: Uint8Array, s: TransformSpec, seed = 1, addon: ImageAddon | null = imageAddon): Promise<Uint8Array> {
  const r = await transformToRgb(bytes, s, seed, addon);
  if (!r.ok) throw new Error(r.message);
  return r.rgb;
}

describe("RandomResizedCrop geometry", () => {
  it("matches torchvision's get_params box for box, draw for draw", () => {
    for (const [W, H, scale, c, box, draws] of TORCHVISION_BOXES) {
      let k = 0;
      const got = randomResizedCropBox(W, H, scale, [3 / 4, 4 / 3], () => (c + k++ * PHI) % 1);
      expect([got.left, got.top, got.width, got.height], `${W}x${H} scale ${scale} c ${c}`).toEqual(box);
      expect(k).toBe(draws);
    }
  });

  it("stays within the scale and ratio ranges (up to rounding) and inside the image", () => {
    const rng = new Rng(5);
    for (let i = 0; i < 2000; i++) {
      const W = 50 + rng.int(600), H = 50 + rng.int(600);
      const b = randomResizedCropBox(W, H, [0.9, 1], [3 / 4, 4 / 3], () => rng.next());
      expect(b.left >= 0 && b.top >= 0 && b.left + b.width <= W && b.top + b.height <= H).toBe(true);
      const inRange = (b.width * b.height) / (W * H) >= 0.9 - 0.03 && b.width / b.height >= 0.75 - 0.03 && b.width / b.height <= 4 / 3 + 0.03;
      // Outside the ranges only through the fallback, which keeps a full side.
      if (!inRange) expect(b.width === W || b.height === H).toBe(true);
    }
  });

  it("rounds halves to even like Python", () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 4, 2, 3]);
  });
});

describe("eval geometry (Resize shortest side + CenterCrop)", () => {
  it("follows torchvision's sizes and offsets", () => {
    expect(resizeShortest(500, 375, 224)).toEqual({ width: 298, height: 224 }); // floor(224*500/375 = 298.67)
    expect(resizeShortest(375, 500, 224)).toEqual({ width: 224, height: 298 });
    expect(resizeShortest(32, 32, 224)).toEqual({ width: 224, height: 224 });
    expect(centerCropBox(298, 224, 224)).toEqual({ left: 37, top: 0, width: 224, height: 224 });
    expect(centerCropBox(225, 224, 224).left).toBe(0); // round(0.5) = 0
    expect(centerCropBox(227, 224, 224).left).toBe(2); // round(1.5) = 2
  });
});

describe("sharp-only path (no image addon)", () => {
  it("eval output equals a sharp bicubic resize + center extract done here, normalized in float64", async () => {
    const bytes = await makeImage("jpeg", 90, 60, 3);
    const s = spec({ mode: "eval", size: 32 });
    const r = await preprocessImage(bytes, s, 0, null);
    if (!r.ok) throw new Error(r.message);
    // 90x60 -> 48x32 (floor(32*90/60)), crop left = round(16/2) = 8.
    const ref = await sharp(bytes).resize(48, 32, { kernel: "cubic", fit: "fill" }).extract({ left: 8, top: 0, width: 32, height: 32 }).raw().toBuffer();
    expect(r.data.length).toBe(32 * 32 * 3);
    let maxErr = 0;
    for (let i = 0; i < ref.length; i++) {
      const c = i % 3;
      maxErr = Math.max(maxErr, Math.abs(r.data[i]! - (ref[i]! / 255 - CLIP_MEAN[c]!) / CLIP_STD[c]!));
    }
    expect(maxErr).toBeLessThan(1e-5);
  });
});

// Every behaviour below holds on both paths: the image addon (libjpeg-turbo +
// PIL's resampling, sharp for non-JPEG decoding) and sharp alone. The addon
// is built wherever libjpeg's headers exist (CI installs them).
const paths: [string, ImageAddon | null][] = [["sharp only", null]];
if (imageAddon) paths.unshift(["image addon", imageAddon]);

describe.each(paths)("image transforms on real pixels (%s)", (_name, addon) => {
  const transformToRgbP = (b: Uint8Array, s: TransformSpec, seed: number) => transformToRgb(b, s, seed, addon);
  const preprocessP = (b: Uint8Array, s: TransformSpec, seed: number) => preprocessImage(b, s, seed, addon);
  const rgbOfP = (b: Uint8Array, s: TransformSpec, seed = 1) => rgbOf(b, s, seed, addon);

  it("crops the right region: on a linear ramp each output pixel shows its source coordinate", async () => {
    const W = 200, H = 150, size = 50;
    const bytes = await rampPng(W, H);
    for (const mode of ["train", "eval"] as const) {
      for (const seed of [1, 2, 3]) {
        const s = spec({ mode, size, scale: [0.3, 1] });
        const r = await transformToRgbP(bytes, s, seed);
        if (!r.ok) throw new Error(r.message);
        // Source box in original pixels, computed independently for eval.
        const box = mode === "eval" ? { left: 8 * (W / 66), top: 0, width: 50 * (W / 66), height: H } : r.crop;
        if (mode === "eval") expect(r.crop).toEqual({ left: 8, top: 0, width: 50, height: 50 }); // 200x150 -> 66x50
        // Interior pixels only: at the borders the kernel sees clamped edges.
        for (let oy = 4; oy < size - 4; oy += 5) {
          for (let ox = 4; ox < size - 4; ox += 5) {
            const sx = box.left + ((ox + 0.5) * box.width) / size - 0.5;
            const sy = box.top + ((oy + 0.5) * box.height) / size - 0.5;
            const i = (oy * size + ox) * 3;
            expect(Math.abs(r.rgb[i]! - sx), `${mode} seed ${seed} x at ${ox},${oy}`).toBeLessThan(1.6);
            expect(Math.abs(r.rgb[i + 1]! - sy), `${mode} seed ${seed} y at ${ox},${oy}`).toBeLessThan(1.6);
          }
        }
      }
    }
  });

  it("random crops are a function of the seed and vary with it", async () => {
    const bytes = await makeImage("jpeg", 120, 90, 9);
    const s = spec({ size: 24, scale: [0.3, 1] });
    const a = await rgbOfP(bytes, s, 11), b = await rgbOfP(bytes, s, 11), c = await rgbOfP(bytes, s, 12);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });

  it("normalizes with CLIP and SigLIP constants into HWC float32", async () => {
    const solid = new Uint8Array(await sharp({ create: { width: 20, height: 10, channels: 3, background: { r: 255, g: 0, b: 128 } } }).png().toBuffer());
    for (const [mean, std] of [[CLIP_MEAN, CLIP_STD], [SIGLIP_MEAN, SIGLIP_STD]] as const) {
      const r = await preprocessP(solid, spec({ size: 8, mean, std }), 1);
      if (!r.ok) throw new Error(r.message);
      const want = [255, 0, 128].map((v, c) => (v / 255 - mean[c]!) / std[c]!);
      for (let p = 0; p < 64; p++) for (let c = 0; c < 3; c++) expect(Math.abs(r.data[p * 3 + c]! - want[c]!)).toBeLessThan(1e-6);
    }
    expect(CLIP_MEAN).toEqual([0.48145466, 0.4578275, 0.40821073]);
    expect(CLIP_STD).toEqual([0.26862954, 0.26130258, 0.27577711]);
  });

  it("turns grayscale, CMYK and 16-bit images into sRGB", async () => {
    const s = spec({ mode: "eval", size: 8 });
    const gray = new Uint8Array(await sharp(await makeImage("jpeg", 16, 16, 4)).toColourspace("b-w").png().toBuffer());
    expect((await sharp(gray).metadata()).channels).toBe(1);
    const g = await rgbOfP(gray, s);
    for (let i = 0; i < g.length; i += 3) expect(g[i] === g[i + 1] && g[i] === g[i + 2]).toBe(true);

    // CMYK goes through libvips' ICC transform (embedded profile, else its
    // default CMYK profile), so colours come back close to, not exactly, what
    // the encoder was given (PIL's naive CMYK formula differs from both).
    for (const [r0, g0, b0] of [[150, 120, 100], [90, 140, 170]]) {
      const cmyk = new Uint8Array(await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: r0, g: g0, b: b0 } } }).toColourspace("cmyk").jpeg({ quality: 100 }).toBuffer());
      expect((await sharp(cmyk).metadata()).space).toBe("cmyk");
      const c = await rgbOfP(cmyk, s);
      expect(c.length).toBe(8 * 8 * 3);
      expect(Math.max(Math.abs(c[0]! - r0!), Math.abs(c[1]! - g0!), Math.abs(c[2]! - b0!))).toBeLessThan(12);
    }

    // 16-bit PNG holding v*257 decodes like the 8-bit image holding v.
    const w = 16, h = 16, px8 = Buffer.alloc(w * h * 3), px16 = new Uint16Array(w * h * 3);
    for (let i = 0; i < px8.length; i++) { px8[i] = (i * 7) % 256; px16[i] = px8[i]! * 257; }
    const p8 = new Uint8Array(await sharp(px8, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
    const p16 = png16(w, h, px16);
    expect((await sharp(p16).metadata()).depth).toBe("ushort");
    const a8 = await rgbOfP(p8, s), a16 = await rgbOfP(p16, s);
    for (let i = 0; i < a8.length; i++) expect(Math.abs(a8[i]! - a16[i]!)).toBeLessThanOrEqual(1);
  });

  it("flattens alpha on white by default, or drops it like PIL convert('RGB')", async () => {
    // RGB (10, 200, 30) stored under alpha 0 (transparent).
    const px = Buffer.alloc(8 * 8 * 4);
    for (let i = 0; i < 64; i++) px.set([10, 200, 30, 0], i * 4);
    const png = new Uint8Array(await sharp(px, { raw: { width: 8, height: 8, channels: 4 } }).png().toBuffer());
    const white = await rgbOfP(png, spec({ mode: "eval", size: 4 }));
    expect([...white.slice(0, 3)]).toEqual([255, 255, 255]);
    const black = await rgbOfP(png, spec({ mode: "eval", size: 4, alpha: [0, 0, 0] }));
    expect([...black.slice(0, 3)]).toEqual([0, 0, 0]);
    const dropped = await rgbOfP(png, spec({ mode: "eval", size: 4, alpha: "drop" }));
    expect([...dropped.slice(0, 3)]).toEqual([10, 200, 30]);
  });

  it("applies EXIF orientation before cropping", async () => {
    const w = 40, h = 24;
    const px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) px.set([(i * 13) % 256, (i % w) * 6, Math.floor(i / w) * 10], i * 3);
    const raw = { raw: { width: w, height: h, channels: 3 as const } };
    const tagged = new Uint8Array(await sharp(px, raw).png().withMetadata({ orientation: 6 }).toBuffer());
    const upright = new Uint8Array(await sharp(await sharp(px, raw).rotate(90).png().toBuffer()).png().toBuffer());
    for (const mode of ["train", "eval"] as const) {
      const s = spec({ mode, size: 12, scale: [0.5, 1] });
      const a = await transformToRgbP(tagged, s, 7), b = await transformToRgbP(upright, s, 7);
      if (!a.ok || !b.ok) throw new Error("decode failed");
      expect([a.width, a.height]).toEqual([24, 40]);
      expect(a.crop).toEqual(b.crop);
      expect(Buffer.from(a.rgb).equals(Buffer.from(b.rgb))).toBe(true);
    }
  });

  it("rejects empty, non-image, truncated and oversized images with a reason", async () => {
    const s = spec({ size: 8, limitInputPixels: 1_000_000 });
    const jpeg = await makeImage("jpeg", 64, 64, 1);
    const bomb = new Uint8Array(await sharp({ create: { width: 2000, height: 2000, channels: 3, background: "black" } }).png().toBuffer());
    expect(bomb.length).toBeLessThan(50_000); // tiny file, 4 megapixels
    const cases: [Uint8Array, string][] = [
      [new Uint8Array(0), "empty-image"],
      [new TextEncoder().encode("this is not an image at all"), "decode-error"],
      [jpeg.subarray(0, Math.floor(jpeg.length / 2)), "decode-error"],
      [bomb, "too-many-pixels"],
    ];
    for (const [bytes, reason] of cases) {
      const r = await preprocessP(bytes, s, 1);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toBe(reason);
    }
  });
});
