// The image addon (native/image): libjpeg-turbo decoding and PIL's bicubic
// resampling. The reference is PIL itself: test/data/pil-reference/make.py
// (run once with Debian's python3-pil) stored what torchvision's transforms
// make of three small images; the addon must reproduce them bit for bit.
import { describe, it, expect } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { imageAddon } from "../../src/image/image-native.js";
import { DEFAULT_TRANSFORM, transformToRgb, type TransformSpec } from "../../src/image/transforms.js";
import { makeImage } from "./fixtures.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const refDir = path.join(here, "pil-reference");
const spec = (o: Partial<TransformSpec>): TransformSpec => ({ ...DEFAULT_TRANSFORM, ...o });

interface Case { file: string; mode: "train" | "eval"; size: number; box?: [number, number, number, number]; rgb: string }

/** An APP1 segment (marker, length, payload) to splice into a JPEG. */
function app1(payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(0xffe1, 0);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
}

/** Exif payload (little-endian TIFF) whose IFD0 sits at `ifdOffset` and holds one orientation entry. */
function exif(orientation: number, ifdOffset = 8): Buffer {
  const tiff = Buffer.alloc(8 + 2 + 12 + 4);
  tiff.write("II", 0, "latin1");
  tiff.writeUInt16LE(42, 2);
  tiff.writeUInt32LE(ifdOffset, 4);
  tiff.writeUInt16LE(1, 8);
  tiff.writeUInt16LE(0x0112, 10); // orientation
  tiff.writeUInt16LE(3, 12); // SHORT
  tiff.writeUInt32LE(1, 14);
  tiff.writeUInt16LE(orientation, 18);
  return Buffer.concat([Buffer.from("Exif\0\0", "latin1"), tiff]);
}

/** The JPEG with `segments` inserted right after its SOI marker. */
const spliced = (jpeg: Buffer, ...segments: Buffer[]) => new Uint8Array(Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]));

it("the image addon is built wherever libjpeg's headers are installed", () => {
  if (existsSync("/usr/include/jpeglib.h") && process.env.CLIPTS_IMAGE_ADDON !== "0") expect(imageAddon).not.toBeNull();
});

describe.skipIf(!imageAddon)("image addon", () => {
  const addon = imageAddon!;
  const { cases } = JSON.parse(readFileSync(path.join(refDir, "cases.json"), "utf8")) as { cases: Case[] };

  /** PIL's reference crop+resize of one case, through the addon's path for that file type. */
  async function ours(c: Case): Promise<Uint8Array | null> {
    const bytes = new Uint8Array(readFileSync(path.join(refDir, c.file)));
    const [left, top, width, height] = c.box!;
    const region = { left, top, width, height };
    if (c.file.endsWith(".jpg")) {
      expect(addon.jpegInfo(bytes)?.plain).toBe(true);
      return addon.decodeJpegResample(bytes, region, c.size, c.size, 0, 0, c.size, c.size);
    }
    const { data, info } = await sharp(bytes).toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    return addon.resample(new Uint8Array(data), info.width, info.height, region, c.size, c.size, 0, 0, c.size, c.size);
  }

  it("crops and resizes exactly as PIL does (torchvision's resized_crop), shrinking and enlarging", async () => {
    const train = cases.filter((c) => c.mode === "train");
    expect(train.length).toBeGreaterThanOrEqual(12);
    for (const c of train) {
      const out = (await ours(c))!;
      const want = Buffer.from(c.rgb, "base64");
      expect(out.length).toBe(want.length);
      expect(Buffer.from(out).equals(want), `${c.file} box ${c.box} size ${c.size}`).toBe(true);
    }
  });

  it("eval transform (resize shortest side + center crop) equals PIL's end to end, JPEG and PNG", async () => {
    const evals = cases.filter((c) => c.mode === "eval");
    expect(evals.length).toBeGreaterThanOrEqual(4);
    for (const c of evals) {
      const bytes = new Uint8Array(readFileSync(path.join(refDir, c.file)));
      const r = await transformToRgb(bytes, spec({ mode: "eval", size: c.size }), 0, addon);
      if (!r.ok) throw new Error(r.message);
      expect(Buffer.from(r.rgb).equals(Buffer.from(c.rgb, "base64")), `${c.file} size ${c.size}`).toBe(true);
    }
  });

  it("agrees with the sharp-only path up to the two resizers' rounding", async () => {
    const webp = new Uint8Array(await sharp(await makeImage("png", 300, 200, 6)).webp({ quality: 90 }).toBuffer());
    for (const [kind, bytes] of [["jpeg", await makeImage("jpeg", 120, 90, 5)], ["png", await makeImage("png", 64, 80, 5)], ["webp", webp]] as const) {
      for (const mode of ["train", "eval"] as const) {
        const s = spec({ mode, size: 48 });
        const a = await transformToRgb(bytes, s, 3, addon), b = await transformToRgb(bytes, s, 3, null);
        if (!a.ok || !b.ok) throw new Error("decode failed");
        expect(a.crop).toEqual(b.crop);
        let sum = 0;
        for (let i = 0; i < a.rgb.length; i++) sum += Math.abs(a.rgb[i]! - b.rgb[i]!);
        // libvips block-shrinks large reductions before its cubic (webp eval here
        // shrinks 4x), so the paths differ most there: ~1.7 levels on average.
        expect(sum / a.rgb.length, `${kind} ${mode}`).toBeLessThan(3);
      }
    }
  });

  it("leaves rotated, CMYK and ICC-tagged JPEGs to sharp, and reports damage as null", async () => {
    const base = Buffer.from(await makeImage("jpeg", 40, 24, 1));
    const rotated = new Uint8Array(await sharp(base).jpeg().withMetadata({ orientation: 6 }).toBuffer());
    const icc = new Uint8Array(await sharp(base).jpeg().withIccProfile("p3").toBuffer());
    const cmyk = new Uint8Array(await makeImage("cmyk-jpeg", 16, 16, 2));
    expect(addon.jpegInfo(new Uint8Array(base))).toEqual({ width: 40, height: 24, plain: true });
    expect(addon.jpegInfo(rotated)?.plain).toBe(false);
    expect(addon.jpegInfo(icc)?.plain).toBe(false);
    expect(addon.jpegInfo(cmyk)?.plain).toBe(false);
    expect(addon.jpegInfo(await makeImage("png", 8, 8, 1))).toBeNull();
    expect(addon.jpegInfo(new TextEncoder().encode("not a jpeg"))).toBeNull();
    const whole = { left: 0, top: 0, width: 40, height: 24 };
    expect(addon.decodeJpegResample(new Uint8Array(base), whole, 8, 8, 0, 0, 8, 8)).not.toBeNull();
    expect(addon.decodeJpegResample(new Uint8Array(base.subarray(0, base.length >> 1)), whole, 8, 8, 0, 0, 8, 8)).toBeNull();
    // Through the transform, the rotated JPEG comes out upright: the same
    // pixels as its upright decode stored losslessly.
    const upright = new Uint8Array(await sharp(rotated).rotate().png().toBuffer());
    const s = spec({ mode: "eval", size: 12 });
    const a = await transformToRgb(rotated, s, 0, addon), b = await transformToRgb(upright, s, 0, addon);
    if (!a.ok || !b.ok) throw new Error("decode failed");
    expect([a.width, a.height]).toEqual([24, 40]);
    expect(Buffer.from(a.rgb).equals(Buffer.from(b.rgb))).toBe(true);
  });

  it("reads the orientation from the first Exif segment, whatever APP1 segments follow, and survives hostile offsets", async () => {
    const base = Buffer.from(await makeImage("jpeg", 40, 24, 2));
    const xmp = app1(Buffer.from('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x="adobe:ns:meta/"/>', "latin1"));
    expect(addon.jpegInfo(spliced(base, app1(exif(1))))?.plain).toBe(true);
    expect(addon.jpegInfo(spliced(base, app1(exif(6))))?.plain).toBe(false);
    // An XMP APP1 after the Exif one (phones, editors) must not reset the rotation.
    const rotatedXmp = spliced(base, app1(exif(6)), xmp);
    expect(addon.jpegInfo(rotatedXmp)?.plain).toBe(false);
    const r = await transformToRgb(rotatedXmp, spec({ mode: "eval", size: 12 }), 0, addon);
    expect(r.ok && [r.width, r.height]).toEqual([24, 40]);
    // IFD offsets near 2^32 and past the segment: read as "no orientation", no crash.
    for (const off of [0xfffffffe, 0xffffffff, 0x7fffffff, 4000]) {
      expect(addon.jpegInfo(spliced(base, app1(exif(6, off))))).toEqual({ width: 40, height: 24, plain: true });
    }
  });

  it("rejects regions and windows outside the image", () => {
    const rgb = new Uint8Array(10 * 8 * 3);
    expect(() => addon.resample(rgb, 10, 8, { left: 5, top: 0, width: 6, height: 8 }, 4, 4, 0, 0, 4, 4)).toThrow(/region outside/);
    expect(() => addon.resample(rgb, 10, 8, { left: 0, top: 0, width: 10, height: 8 }, 4, 4, 1, 0, 4, 4)).toThrow(/window outside/);
    expect(() => addon.resample(rgb, 11, 8, { left: 0, top: 0, width: 10, height: 8 }, 4, 4, 0, 0, 4, 4)).toThrow(/width x height/);
    // Sums that overflow int32 must not wrap past the checks.
    expect(() => addon.resample(rgb, 10, 8, { left: 2 ** 31 - 2, top: 0, width: 5, height: 8 }, 4, 4, 0, 0, 4, 4)).toThrow(/region outside/);
    expect(() => addon.resample(rgb, 10, 8, { left: 0, top: 0, width: 10, height: 8 }, 4, 4, 2 ** 31 - 2, 0, 4, 4)).toThrow(/window outside/);
  });
});
