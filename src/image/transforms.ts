// CLIP image transforms: RandomResizedCrop (train) and resize + center crop
// (eval), both bicubic, then per-channel normalization into float32 HWC.
//
// The crop geometry follows torchvision's published semantics (the ones
// open_clip and MetaCLIP train with), so a model trained here sees the same
// distribution of crops:
// - RandomResizedCrop.get_params: up to 10 tries of (area fraction ~ U(scale),
//   log aspect ~ U(log ratio)), w = round(sqrt(area*aspect)), h =
//   round(sqrt(area/aspect)) with Python's round-half-even, accepted when it
//   fits; otherwise a center crop clamped to the ratio range.
// - Resize(size): shortest side -> size, longer side -> floor(size*long/short);
//   CenterCrop: top = round((H - size) / 2) (half-even), same for left.
// The pixels: with the image addon (native/image), PIL's own resampling, so
// plain JPEGs come out bit-identical to torchvision's PIL pipeline; without
// it, sharp (libvips), whose "cubic" is the same Keys a = -0.5 kernel,
// widened when downscaling as PIL does, so the two agree up to rounding.
import sharp from "sharp";
import { Rng } from "../util/hash.js";
import { imageAddon, type CropBox, type ImageAddon } from "./image-native.js";

export type Triple = [number, number, number];

/** OpenAI CLIP / open_clip normalization. */
export const CLIP_MEAN: Triple = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: Triple = [0.26862954, 0.26130258, 0.27577711];
/** SigLIP normalization (maps [0,1] to [-1,1]). */
export const SIGLIP_MEAN: Triple = [0.5, 0.5, 0.5];
export const SIGLIP_STD: Triple = [0.5, 0.5, 0.5];

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * torchvision RandomResizedCrop.get_params on an image of width x height,
 * drawing uniforms from `rand` (in [0,1)). Integer draws use floor(u * n),
 * the same distribution as torch.randint(0, n).
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  scale: [number, number],
  ratio: [number, number],
  rand: () => number,
): CropBox {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + (scale[1] - scale[0]) * rand());
    const aspect = Math.exp(logLo + (logHi - logLo) * rand());
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = Math.floor(rand() * (height - h + 1));
      const left = Math.floor(rand() * (width - w + 1));
      return { left, top, width: w, height: h };
    }
  }
  // Fallback: whole image cropped to the nearest allowed aspect ratio, centered.
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/** Size after torchvision Resize(size): shortest side -> size, aspect kept (floored). */
export function resizeShortest(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.floor((size * height) / width) };
  return { width: Math.floor((size * width) / height), height: size };
}

/** torchvision CenterCrop(size) box on an image of width x height (>= size). */
export function centerCropBox(width: number, height: number, size: number): CropBox {
  return {
    left: roundHalfEven((width - size) / 2),
    top: roundHalfEven((height - size) / 2),
    width: size,
    height: size,
  };
}

/** Everything a decode worker needs to turn encoded bytes into a normalized tensor. */
export interface TransformSpec {
  /** Output side in pixels (square). */
  size: number;
  /** "train": RandomResizedCrop; "eval": resize shortest side + center crop. */
  mode: "train" | "eval";
  /** RandomResizedCrop area fraction range (open_clip default 0.9-1.0). */
  scale: [number, number];
  /** RandomResizedCrop aspect ratio range. */
  ratio: [number, number];
  mean: Triple;
  std: Triple;
  /**
   * Alpha handling. A colour (0-255 RGB) flattens transparency onto it
   * (default white, what a viewer shows). "drop" discards the alpha channel
   * and keeps the stored RGB, which is what PIL's .convert("RGB") in
   * open_clip does (transparent pixels usually become black there).
   */
  alpha: Triple | "drop";
  /** Images with more pixels than this are rejected (decompression bombs). */
  limitInputPixels: number;
}

export const DEFAULT_TRANSFORM: TransformSpec = {
  size: 224,
  mode: "train",
  scale: [0.9, 1.0],
  ratio: [3 / 4, 4 / 3],
  mean: CLIP_MEAN,
  std: CLIP_STD,
  alpha: [255, 255, 255],
  limitInputPixels: 89_478_485, // PIL's Image.MAX_IMAGE_PIXELS
};

/** Why a sample's image was rejected. */
export type ImageFailure = "empty-image" | "decode-error" | "too-many-pixels";

export type PreprocessResult =
  | { ok: true; data: Float32Array; crop: CropBox; width: number; height: number }
  | { ok: false; reason: ImageFailure; message: string };

/** uint8 RGB (HWC) -> float32 (x/255 - mean)/std, written into out at offset. */
export function normalizeInto(
  rgb: Uint8Array,
  out: Float32Array,
  offset: number,
  mean: Triple,
  std: Triple,
): void {
  const a0 = 1 / (255 * std[0]), a1 = 1 / (255 * std[1]), a2 = 1 / (255 * std[2]);
  const b0 = -mean[0] / std[0], b1 = -mean[1] / std[1], b2 = -mean[2] / std[2];
  for (let i = 0, o = offset; i < rgb.length; i += 3, o += 3) {
    out[o] = rgb[i]! * a0 + b0;
    out[o + 1] = rgb[i + 1]! * a1 + b1;
    out[o + 2] = rgb[i + 2]! * a2 + b2;
  }
}

type RgbResult =
  | { ok: true; rgb: Uint8Array; crop: CropBox; width: number; height: number }
  | { ok: false; reason: ImageFailure; message: string };

/**
 * Decode encoded image bytes, orient by EXIF, crop/resize per the spec and
 * return sRGB uint8 HWC pixels (size x size x 3). `cropSeed` (uint32) seeds
 * the random crop so the result does not depend on which worker runs it.
 *
 * With the image addon (src/image/image-native.ts), plain JPEGs decode with
 * libjpeg-turbo, everything else with sharp, and the addon's PIL-exact
 * bicubic does every crop and resize. Without it, sharp does it all.
 */
export async function transformToRgb(
  bytes: Uint8Array,
  spec: TransformSpec,
  cropSeed: number,
  addon: ImageAddon | null = imageAddon,
): Promise<RgbResult> {
  if (bytes.length === 0) return { ok: false, reason: "empty-image", message: "zero-byte image" };
  try {
    return addon ? await transformWithAddon(addon, bytes, spec, cropSeed) : await transformWithSharp(bytes, spec, cropSeed);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const reason: ImageFailure = /pixel limit/i.test(message) ? "too-many-pixels" : "decode-error";
    return { ok: false, reason, message };
  }
}

/**
 * The output as "resize `region` of the source to resizeW x resizeH, keep
 * `window` of that": train crops then resizes (torchvision's resized_crop),
 * eval resizes the whole image then center-crops. `crop` is the box reported
 * to callers: the source crop (train) or the center crop (eval).
 */
function outputPlan(width: number, height: number, spec: TransformSpec, cropSeed: number) {
  if (spec.mode === "train") {
    const rng = new Rng(cropSeed);
    const crop = randomResizedCropBox(width, height, spec.scale, spec.ratio, () => rng.next());
    return { crop, region: crop, resizeW: spec.size, resizeH: spec.size, window: { left: 0, top: 0, width: spec.size, height: spec.size } };
  }
  const r = resizeShortest(width, height, spec.size);
  const crop = centerCropBox(r.width, r.height, spec.size);
  return { crop, region: { left: 0, top: 0, width, height }, resizeW: r.width, resizeH: r.height, window: crop };
}

function tooManyPixels(width: number, height: number, spec: TransformSpec): RgbResult | null {
  if (width * height <= spec.limitInputPixels) return null;
  return { ok: false, reason: "too-many-pixels", message: `${width}x${height} exceeds limitInputPixels ${spec.limitInputPixels}` };
}

async function transformWithAddon(addon: ImageAddon, bytes: Uint8Array, spec: TransformSpec, cropSeed: number): Promise<RgbResult> {
  const info = addon.jpegInfo(bytes);
  if (info?.plain) {
    const rejected = tooManyPixels(info.width, info.height, spec);
    if (rejected) return rejected;
    const p = outputPlan(info.width, info.height, spec, cropSeed);
    const w = p.window;
    const rgb = addon.decodeJpegResample(bytes, p.region, p.resizeW, p.resizeH, w.left, w.top, w.width, w.height);
    // null: libjpeg saw damage; sharp below rejects it with its own message.
    if (rgb) return { ok: true, rgb, crop: p.crop, width: info.width, height: info.height };
  }
  // Everything else: full-resolution sRGB from sharp, oriented, alpha handled.
  let img = sharp(bytes, { limitInputPixels: spec.limitInputPixels, sequentialRead: true }).rotate();
  img = spec.alpha === "drop" ? img.removeAlpha() : img.flatten({ background: { r: spec.alpha[0], g: spec.alpha[1], b: spec.alpha[2] } });
  const { data, info: src } = await img.toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
  if (src.channels !== 3) return { ok: false, reason: "decode-error", message: `unexpected decoded channels ${src.channels}` };
  const p = outputPlan(src.width, src.height, spec, cropSeed);
  const w = p.window;
  const rgb = addon.resample(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), src.width, src.height, p.region, p.resizeW, p.resizeH, w.left, w.top, w.width, w.height);
  return { ok: true, rgb, crop: p.crop, width: src.width, height: src.height };
}

async function transformWithSharp(bytes: Uint8Array, spec: TransformSpec, cropSeed: number): Promise<RgbResult> {
  let img = sharp(bytes, { limitInputPixels: spec.limitInputPixels, sequentialRead: true }).rotate();
  const meta = await img.metadata();
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) return { ok: false, reason: "decode-error", message: "image has no size" };
  const rejected = tooManyPixels(width, height, spec);
  if (rejected) return rejected;
  if (meta.hasAlpha && spec.alpha === "drop") {
    // libvips resizes premultiplied, which zeroes the colour of fully
    // transparent pixels; PIL drops alpha before resizing, so do that first.
    const flat = await img.removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    img = sharp(flat.data, { raw: { width: flat.info.width, height: flat.info.height, channels: flat.info.channels } });
  }
  const p = outputPlan(width, height, spec, cropSeed);
  if (spec.mode === "train") img.extract(p.region).resize(spec.size, spec.size, { kernel: "cubic", fit: "fill" });
  else img.resize(p.resizeW, p.resizeH, { kernel: "cubic", fit: "fill" }).extract(p.window);
  if (meta.hasAlpha && spec.alpha !== "drop") {
    // Resizing premultiplied then flattening equals flattening first.
    img.flatten({ background: { r: spec.alpha[0], g: spec.alpha[1], b: spec.alpha[2] } });
  }
  // toColourspace("srgb") turns grey, CMYK (via its ICC profile) and 16-bit
  // images into 8-bit 3-channel sRGB.
  const { data, info } = await img.toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== spec.size || info.height !== spec.size) {
    return { ok: false, reason: "decode-error", message: `unexpected decoded shape ${info.width}x${info.height}x${info.channels}` };
  }
  return { ok: true, rgb: data, crop: p.crop, width, height };
}

/** transformToRgb followed by normalization to float32 HWC. */
export async function preprocessImage(
  bytes: Uint8Array,
  spec: TransformSpec,
  cropSeed: number,
  addon: ImageAddon | null = imageAddon,
): Promise<PreprocessResult> {
  const r = await transformToRgb(bytes, spec, cropSeed, addon);
  if (!r.ok) return r;
  const data = new Float32Array(spec.size * spec.size * 3);
  normalizeInto(r.rgb, data, 0, spec.mean, spec.std);
  return { ok: true, data, crop: r.crop, width: r.width, height: r.height };
}
