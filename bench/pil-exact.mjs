// Checks (not times) the image addon against torchvision's PIL pipeline on
// the loader benchmark's JPEGs: for each image, a random resized crop and a
// resize + center crop at 224, decoded by libjpeg-turbo and resampled by the
// addon, compared byte for byte with PIL's output (bench/pil_exact.py).
// Run after `npm run build` and `node bench/loader.mjs` (which writes the images):
//   node bench/pil-exact.mjs [--n 100] [--work /tmp/clipts-bench-loader]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { imageAddon } from "../dist/image/image-native.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, def) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : def);
const n = Number(arg("n", 100)), work = arg("work", "/tmp/clipts-bench-loader"), size = 224;
if (!imageAddon) throw new Error("the image addon is not built (node scripts/build-native.js with libjpeg-dev installed)");
const tmp = mkdtempSync(path.join(os.tmpdir(), "clipts-pil-exact-"));
for (const set of ["small", "large", "web"]) {
  const folder = path.join(work, set), out = path.join(tmp, set);
  execFileSync("/usr/bin/python3", [path.join(here, "pil_exact.py"), folder, String(n), String(size), out]);
  const cases = JSON.parse(readFileSync(out + ".json", "utf8"));
  const pil = readFileSync(out + ".bin");
  let exact = 0, maxDiff = 0;
  cases.forEach((c, i) => {
    const bytes = new Uint8Array(readFileSync(path.join(folder, c.file)));
    const [l, t, w, h] = c.mode === "train" ? c.box : [0, 0, ...c.size];
    const [rw, rh] = c.mode === "train" ? [size, size] : c.resize;
    const [cl, ct] = c.mode === "train" ? [0, 0] : c.crop;
    const ours = imageAddon.decodeJpegResample(bytes, { left: l, top: t, width: w, height: h }, rw, rh, cl, ct, size, size);
    const ref = pil.subarray(i * size * size * 3, (i + 1) * size * size * 3);
    let same = true;
    for (let k = 0; k < ref.length; k++) {
      const d = Math.abs(ours[k] - ref[k]);
      if (d) { same = false; maxDiff = Math.max(maxDiff, d); }
    }
    if (same) exact++;
  });
  console.log(`${set.padEnd(5)}: ${exact}/${cases.length} transforms bit-identical to PIL, max byte difference ${maxDiff}`);
}
