// Loader benchmark (not a test). Run after `npm run build`:
//   node bench/loader.mjs [--small 3000] [--large 1000] [--run 10000] [--work /tmp/clipts-bench-loader] [--backend cpu|wasm|torch]
// 1. Decode + RandomResizedCrop 224 (scale 0.9-1, bicubic) + CLIP normalize,
//    clipts DecodePool (sharp in worker threads) with 1 and 2 workers vs
//    PIL + torchvision (bench/loader_pil.py) with 1 and 2 processes, on the
//    same JPEG files: CIFAR-10 32x32 images from ../shared and generated
//    500x375 and 1024x768 JPEGs (upscaled CIFAR images plus grain). Images/s (wall) and images per CPU-second (per core).
// 2. A full Loader run over --run images (shards -> batches of tensors),
//    reporting throughput and peak RSS along the way (must stay flat).
// 3. The same rows read in place from webdataset tars (1000 samples each, as
//    img2dataset writes them) against the Arrow shards, side by side (--no-tar skips it).
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import tar from "tar-stream";
import { setBackend } from "../dist/backend/index.js";
import { DecodePool } from "../dist/image/decode-worker-pool.js";
import { DEFAULT_TRANSFORM, normalizeInto } from "../dist/image/transforms.js";
import { Loader } from "../dist/data/loader.js";
import { ShardWriter } from "../dist/formats/shards.js";
import { loadTokenizer } from "../dist/text/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const nSmall = Number(arg("small", 3000));
const nLarge = Number(arg("large", 1000));
const nWeb = Number(arg("web", 300));
const nRun = Number(arg("run", 10000));
const work = arg("work", "/tmp/clipts-bench-loader");
const cifarTar = path.resolve(here, "../../shared/data/cifar10/train.tar");
const cifar = existsSync(cifarTar) ? cifarTar : "/work/shared/data/cifar10/train.tar";

/** First n JPEG entries of the CIFAR-10 tar, as { name, bytes }. */
async function readCifar(n) {
  const out = [];
  const ex = tar.extract();
  const done = new Promise((resolve, reject) => {
    ex.on("entry", (h, stream, next) => {
      const chunks = [];
      stream.on("data", (c) => chunks.push(c));
      stream.on("end", () => {
        if (h.type === "file" && h.name.endsWith(".jpg") && out.length < n) out.push({ name: h.name, bytes: Buffer.concat(chunks) });
        if (out.length >= n) { ex.destroy(); resolve(); } else next();
      });
      stream.resume();
    });
    ex.on("finish", resolve);
    ex.on("error", reject);
  });
  createReadStream(cifar).pipe(ex);
  await done;
  return out;
}

async function prepare() {
  const small = path.join(work, "small"), large = path.join(work, "large"), web = path.join(work, "web");
  if (existsSync(path.join(work, "ready"))) return { small, large, web };
  for (const d of [small, large, web]) mkdirSync(d, { recursive: true });
  const imgs = await readCifar(Math.max(nSmall, nLarge, nWeb));
  imgs.slice(0, nSmall).forEach((im, i) => writeFileSync(path.join(small, `${String(i).padStart(6, "0")}.jpg`), im.bytes));
  // Photos: an upscaled CIFAR image plus film-grain noise, JPEG q90.
  const photo = async (bytes, w, h, seed) => {
    const { data } = await sharp(bytes).resize(w, h, { kernel: "lanczos3" }).raw().toBuffer({ resolveWithObject: true });
    let s = (seed + 1) * 2654435761 >>> 0;
    for (let k = 0; k < data.length; k++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[k] = Math.max(0, Math.min(255, data[k] + ((s >>> 24) % 25) - 12));
    }
    return sharp(data, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  };
  for (let i = 0; i < nLarge; i++) writeFileSync(path.join(large, `${String(i).padStart(6, "0")}.jpg`), await photo(imgs[i].bytes, 500, 375, i));
  for (let i = 0; i < nWeb; i++) writeFileSync(path.join(web, `${String(i).padStart(6, "0")}.jpg`), await photo(imgs[i].bytes, 1024, 768, i));
  writeFileSync(path.join(work, "ready"), "");
  return { small, large, web };
}

/** CPU seconds of the main thread alone (Linux /proc; null elsewhere): unlike the event loop's busy wall time, it does not count time the thread waited for a core. */
function mainCpuSeconds() {
  try {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return null;
  }
}

function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** clipts: decode+RRC+normalize every file through a pool of `workers`. */
async function ours(folder, workers) {
  const files = readdirSync(folder).filter((f) => f.endsWith(".jpg")).sort();
  const blobs = files.map((f) => new Uint8Array(readFileSync(path.join(folder, f))));
  const spec = { ...DEFAULT_TRANSFORM, size: 224 };
  const pool = new DecodePool(spec, workers);
  // Normalized into one reused batch-sized float32 buffer, as the Loader does
  // under the backends training uses (torch, wasm: they copy batch tensors);
  // under the cpu backend it allocates one per batch, about 0.3 ms/image more.
  // (torchvision allocates a new tensor per image and one per batch.)
  const px = 224 * 224 * 3;
  const batch = new Float32Array(64 * px);
  // Warm up: worker start-up and first decodes are not part of the rate.
  await Promise.all(blobs.slice(0, 20).map((b, i) => pool.decode(b, i)));
  const c0 = cpuSeconds(), t0 = performance.now();
  // As many requests in flight as the Loader keeps (a batch or more).
  const window = 64;
  let next = 0, failed = 0;
  const run = async () => {
    while (next < blobs.length) {
      const i = next++;
      const r = await pool.decode(blobs[i], i);
      if (!r.ok) failed++;
      else {
        normalizeInto(r.rgb, batch, (i % 64) * px, spec.mean, spec.std);
      }
    }
  };
  await Promise.all(Array.from({ length: window }, run));
  const wall = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
  await pool.close();
  if (failed) throw new Error(`${failed} images failed to decode`);
  return { images: blobs.length, wall, cpu };
}

function pil(folder, procs) {
  const out = execFileSync("/usr/bin/python3", [path.join(here, "loader_pil.py"), folder, String(procs), "224"], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop());
}

const fmt = (r) => `${(r.images / r.wall).toFixed(0).padStart(6)} img/s  ${(r.images / r.cpu).toFixed(0).padStart(6)} img/cpu-s`;

async function transformBench(dirs) {
  console.log("\n== decode + RandomResizedCrop 224 + normalize (same JPEG bytes, in memory) ==");
  console.log("set                 | clipts (worker threads)             | PIL+torchvision (processes)         | per-core ratio");
  for (const [label, folder] of [["cifar10 32x32", dirs.small], ["500x375 JPEG", dirs.large], ["1024x768 JPEG", dirs.web]]) {
    for (const n of [1, 2]) {
      const a = await ours(folder, n);
      const b = pil(folder, n);
      const ratio = (a.images / a.cpu) / (b.images / b.cpu);
      console.log(`${label.padEnd(14)} x${n}  | ${fmt(a)}  | ${fmt(b)}  | ${ratio.toFixed(2)}x  (wall ${((a.images / a.wall) / (b.images / b.wall)).toFixed(2)}x)`);
    }
  }
}

// Captions as long and as varied as alt-text (the tokenizer's cost depends on
// both): WordNet noun glosses (Debian's wordnet-base, ~70 characters), else numbered phrases.
const glossFile = "/usr/share/wordnet/data.noun";
const glosses = existsSync(glossFile)
  ? readFileSync(glossFile, "utf8").split("\n").filter((l) => l.includes(" | ")).map((l) => l.slice(l.indexOf(" | ") + 3).trim())
  : [];
const caption = (i) => (glosses.length ? `${glosses[(i * 7919) % glosses.length]} (${i})` : `a photo number ${i}`);
const captionSet = glosses.length ? "g" : "n";

/** Shards for the loader run: n rows cycling over the large JPEGs (distinct keys). */
async function makeShards(dirs, n) {
  const out = path.join(work, `shards-${n}-${captionSet}`);
  if (existsSync(path.join(out, "manifest.json"))) return out;
  const files = readdirSync(dirs.large).filter((f) => f.endsWith(".jpg")).sort();
  const blobs = files.map((f) => new Uint8Array(readFileSync(path.join(dirs.large, f))));
  const w = new ShardWriter(out, { rowsPerShard: 1000 });
  await w.start();
  for (let i = 0; i < n; i++) {
    await w.add({ key: `img${i}`, caption: caption(i), image: blobs[i % blobs.length], width: 500, height: 375 });
  }
  await w.finish();
  return out;
}

async function loaderRun(dirs) {
  const dir = await makeShards(dirs, nRun);
  // --backend NAME, else the one training would use: torch when its addon is built, else wasm.
  const wanted = arg("backend", "");
  const backend = wanted ? await setBackend(wanted) : await setBackend("torch").catch(() => setBackend("wasm"));
  // Captions are tokenized as clipts train does it: in the decode workers
  // (a tokenizer spec); the last run tokenizes on the main thread, for comparison.
  const tokenizer = { kind: "clip", contextLength: 77 };
  const mainTok = await loadTokenizer(tokenizer);
  // Time the torch addon's uploads (a copy on a GPU; on the CPU a view of the
  // decode ring, copied only for a batch still alive when its slots are
  // reused), to tell the loader's own main-thread work from the handover.
  const upload = { ms: 0 };
  if (backend === "torch") {
    const addon = (await import("../dist/backend/torch-native.js")).loadTorchAddon().addon;
    for (const name of ["fromArray", "viewArray", "releaseView"]) {
      const f = addon[name];
      addon[name] = (...a) => {
        const t = performance.now();
        try { return f.apply(addon, a); } finally { upload.ms += performance.now() - t; }
      };
    }
  }
  console.log(`\n== Loader over ${nRun} rows of 500x375 JPEG (shards of 1000, batch 64, 224px, shuffle buffer 1000, ${backend} backend) ==`);
  for (const [workers, where] of [[1, "workers"], [2, "workers"], [1, "main thread"]]) {
    const tok = where === "workers" ? { tokenizer } : { tokenize: (texts) => mainTok.tokenize(texts, 77) };
    const loader = new Loader({ dir, batchSize: 64, ...tok, contextLength: 77, imageSize: 224, workers, seed: 1 });
    const c0 = cpuSeconds(), m0 = mainCpuSeconds(), t0 = performance.now(), elu0 = performance.eventLoopUtilization(), up0 = upload.ms;
    let n = 0, peak = 0, marks = [];
    for await (const b of loader) {
      n += b.keys.length;
      b.images.dispose();
      b.tokens.dispose();
      const rss = process.memoryUsage.rss();
      peak = Math.max(peak, rss);
      if (marks.length < Math.floor(n / 2000)) marks.push(`${n}: ${(peak / 2 ** 20).toFixed(0)} MiB`);
    }
    const wall = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
    // Main-thread busy time (the event loop's active time): what the decode workers cannot take over.
    const mainMs = performance.eventLoopUtilization(performance.eventLoopUtilization(), elu0).active;
    const mainCpu = m0 === null ? "" : `, ${(((mainCpuSeconds() - m0) * 1000) / n).toFixed(3)} ms/image of CPU`;
    const maxrss = process.resourceUsage().maxRSS / 1024;
    console.log(`workers ${workers}, tokenizing in the ${where}: ${n} images in ${wall.toFixed(1)} s = ${(n / wall).toFixed(0)} img/s, ${(n / cpu).toFixed(0)} img/cpu-s; main thread busy ${(mainMs / n).toFixed(3)} ms/image${mainCpu} (${((upload.ms - up0) / n).toFixed(3)} of it handing batches to the backend); skipped ${loader.stats().skipped}`);
    console.log(`  peak RSS so far at each 2000 images: ${marks.join(", ")}; process maxRSS ${maxrss.toFixed(0)} MiB`);
  }
}

/** The rows of makeShards as webdataset tars of 1000 samples (KEY.jpg, KEY.txt). */
async function makeTars(dirs, n) {
  const out = path.join(work, `tars-${n}-${captionSet}`);
  if (existsSync(path.join(out, "ready"))) return out;
  mkdirSync(out, { recursive: true });
  const files = readdirSync(dirs.large).filter((f) => f.endsWith(".jpg")).sort();
  const blobs = files.map((f) => readFileSync(path.join(dirs.large, f)));
  for (let t = 0; t * 1000 < n; t++) {
    const pack = tar.pack();
    const chunks = [];
    pack.on("data", (c) => chunks.push(c));
    const done = new Promise((resolve) => pack.on("end", resolve));
    for (let i = t * 1000; i < Math.min(n, (t + 1) * 1000); i++) {
      const key = `img${i}`, txt = Buffer.from(caption(i)), img = blobs[i % blobs.length];
      await new Promise((r) => pack.entry({ name: `${key}.jpg`, size: img.length }, img, r));
      await new Promise((r) => pack.entry({ name: `${key}.txt`, size: txt.length }, txt, r));
    }
    pack.finalize();
    await done;
    writeFileSync(path.join(out, `${String(t).padStart(5, "0")}.tar`), Buffer.concat(chunks));
  }
  writeFileSync(path.join(out, "ready"), "");
  return out;
}

async function tarRun(dirs) {
  const shards = await makeShards(dirs, nRun), tars = await makeTars(dirs, nRun);
  const backend = await setBackend(arg("backend", "") || "torch").catch(() => setBackend("wasm"));
  const tokenizer = { kind: "clip", contextLength: 77 }; // in the workers, as clipts train does
  console.log(`\n== Loader from webdataset tars vs Arrow shards, same ${nRun} rows of 500x375 JPEG (1000 per shard/tar, batch 64, 224px, ${backend} backend) ==`);
  for (const workers of [1, 2]) {
    const res = {};
    for (const [label, dir] of [["arrow", shards], ["tar", tars]]) {
      const loader = new Loader({ dir, batchSize: 64, tokenizer, contextLength: 77, imageSize: 224, workers, seed: 1, verifyHashes: false });
      const c0 = cpuSeconds(), m0 = mainCpuSeconds(), t0 = performance.now(), elu0 = performance.eventLoopUtilization();
      let n = 0;
      for await (const b of loader) {
        n += b.keys.length;
        b.images.dispose();
        b.tokens.dispose();
      }
      const wall = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
      const mainMs = performance.eventLoopUtilization(performance.eventLoopUtilization(), elu0).active;
      const mainCpu = m0 === null ? "" : `, ${(((mainCpuSeconds() - m0) * 1000) / n).toFixed(3)} ms/image of CPU`;
      res[label] = { n, wall, cpu, mainMs };
      console.log(`${label.padEnd(5)} workers ${workers}: ${n} images in ${wall.toFixed(1)} s = ${(n / wall).toFixed(0)} img/s, ${(n / cpu).toFixed(0)} img/cpu-s; main thread busy ${(mainMs / n).toFixed(3)} ms/image${mainCpu}`);
    }
    const per = (r) => r.n / r.cpu;
    console.log(`  tar / arrow: ${(per(res.tar) / per(res.arrow)).toFixed(2)}x per core, ${((res.tar.n / res.tar.wall) / (res.arrow.n / res.arrow.wall)).toFixed(2)}x wall`);
  }
}

const dirs = await prepare();
console.log(`node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}); files in ${work}`);
if (!process.argv.includes("--no-transform")) await transformBench(dirs);
if (!process.argv.includes("--no-loader")) await loaderRun(dirs);
if (!process.argv.includes("--no-tar")) await tarRun(dirs);
