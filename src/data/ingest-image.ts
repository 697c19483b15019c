// Check encoded image bytes before they go into a shard: sharp must recognise
// them, the pixel count must be under the cap (decompression bombs), and a
// small decode must succeed (catches truncated and corrupt files, which a
// header-only metadata read would accept). Width and height are the displayed
// size, after EXIF orientation.
import sharp, { type Metadata } from "sharp";
import { imageAddon, type ImageAddon } from "../image/image-native.js";

/** PIL's default Image.MAX_IMAGE_PIXELS. */
export const DEFAULT_MAX_PIXELS = 89_478_485;

/** Images up to this many pixels are decoded at full size (faster than a resize pipeline). */
const SMALL_PIXELS = 512 * 512;

/** Raster formats the loader can decode; vector/PDF input is refused. */
const ACCEPTED_FORMATS = new Set(["jpeg", "png", "webp", "gif", "tiff", "avif", "heif"]);

export interface ImageCheckOptions {
  /** Most pixels (width × height × pages) an image may have. */
  maxPixels?: number;
  /** Also decode the image (default true); off only trusts the header. */
  decode?: boolean;
}

export type ImageCheck = { ok: true; width: number; height: number; format: string } | { ok: false; reason: string };

export async function checkImage(bytes: Uint8Array, opts: ImageCheckOptions = {}): Promise<ImageCheck> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) return { ok: false, reason: "empty image file" };
  const fast = imageAddon && opts.decode !== false ? checkSmallJpeg(imageAddon, bytes, maxPixels) : null;
  if (fast) return fast;
  let meta: Metadata;
  try {
    // The header read itself is not limited: the cap is checked below with a clear reason.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    return { ok: false, reason: `not a readable image (${firstLine(err)})` };
  }
  if (!meta.format || !ACCEPTED_FORMATS.has(meta.format)) return { ok: false, reason: `unsupported image format: ${meta.format ?? "unknown"}` };
  if (!meta.width || !meta.height) return { ok: false, reason: "image has no size" };
  const pixels = meta.width * (meta.pageHeight ?? meta.height) * Math.max(1, meta.pages ?? 1);
  if (pixels > maxPixels) return { ok: false, reason: `too many pixels (${meta.width}x${meta.height} > ${maxPixels}, possible decompression bomb)` };
  if (opts.decode !== false) {
    try {
      const img = sharp(bytes, { limitInputPixels: maxPixels, failOn: "error" });
      // Large images decode with shrink-on-load (cheap for JPEG/WebP, still reads
      // all the data); small ones decode plainly, as a resize costs more there.
      if (pixels > SMALL_PIXELS) img.resize({ width: 64, height: 64, fit: "inside", fastShrinkOnLoad: true });
      await img.raw().toBuffer();
    } catch (err) {
      return { ok: false, reason: `corrupt image (${firstLine(err)})` };
    }
  }
  const displayed = meta.autoOrient ?? { width: meta.width, height: meta.height };
  return { ok: true, width: displayed.width, height: displayed.height, format: meta.format };
}

/**
 * Small plain JPEGs (most of a web crawl's thumbnails) through the image
 * addon: a header read and a full decode cost a fraction of sharp's two
 * pipeline calls. null leaves the image to sharp: other formats, EXIF/ICC/
 * CMYK files, large images (sharp's shrink-on-load checks those cheaper) and
 * damaged data, whose reason sharp words.
 */
function checkSmallJpeg(addon: ImageAddon, bytes: Uint8Array, maxPixels: number): ImageCheck | null {
  const info = addon.jpegInfo(bytes);
  if (!info?.plain || info.width * info.height > Math.min(SMALL_PIXELS, maxPixels)) return null;
  const { width, height } = info;
  // Decode all of it; keep one pixel (a same-size "resize" does no filtering).
  const px = addon.decodeJpegResample(bytes, { left: 0, top: 0, width, height }, width, height, 0, 0, 1, 1);
  return px ? { ok: true, width, height, format: "jpeg" } : null;
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split("\n")[0].slice(0, 200);
}
