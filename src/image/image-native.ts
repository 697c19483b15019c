// The optional image addon (native/image/image_addon.cc): libjpeg-turbo
// decoding and PIL's bicubic resampling, called synchronously on the decode
// worker's thread. Built by scripts/build-native.js when libjpeg's headers
// exist (Debian: libjpeg-dev); without it the transforms run entirely on
// sharp. CLIPTS_IMAGE_ADDON=0 turns it off (to compare the two paths).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** A crop box in pixels of the (EXIF-oriented) source image. */
export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface ImageAddon {
  /** Header facts, or null when the bytes are not a readable JPEG. */
  jpegInfo(bytes: Uint8Array): { width: number; height: number; plain: boolean } | null;
  /**
   * Resize `region` of an RGB image (taken as an image of its own, like
   * PIL's crop) to resizeW x resizeH with PIL's BICUBIC, returning the
   * window [outLeft, outLeft+outW) x [outTop, outTop+outH) of the result.
   */
  resample(
    rgb: Uint8Array, width: number, height: number, region: CropBox,
    resizeW: number, resizeH: number, outLeft: number, outTop: number, outW: number, outH: number,
  ): Uint8Array;
  /** decode a JPEG, then `resample` it; null on any libjpeg error or warning (damaged data). */
  decodeJpegResample(
    bytes: Uint8Array, region: CropBox,
    resizeW: number, resizeH: number, outLeft: number, outTop: number, outW: number, outH: number,
  ): Uint8Array | null;
}

const here = dirname(fileURLToPath(import.meta.url));
// src/data and dist/data are both two levels below the package root.
const path = join(resolve(here, "..", ".."), "native", "build", "Release", "clipts_image.node");

function load(): ImageAddon | null {
  if (process.env.CLIPTS_IMAGE_ADDON === "0" || !existsSync(path)) return null;
  try {
    return createRequire(import.meta.url)(path) as ImageAddon;
  } catch (e) {
    // A stale or foreign build: say so once, decode with sharp.
    process.emitWarning(`clipts image addon at ${path} failed to load (${(e as Error).message}); decoding with sharp only`);
    return null;
  }
}

/** The addon, or null when it is not built or turned off. */
export const imageAddon: ImageAddon | null = load();
