#!/usr/bin/env node
// Benchmark: zero-shot evaluation throughput (images/s) per backend (cpu,
// wasm) and the share of time spent decoding vs in the image tower, with a
// PyTorch/PIL reference of the same two stages side by side.
//
// Data: the CIFAR-10 test set as class folders (../shared/data/cifar10/test.tar,
// 32x32 JPEGs) and the same images upscaled to 500x375 JPEG (ImageNet-like
// decode cost). Weights are random (throughput only; accuracy is meaningless).
//
// Run after `npm run build`:
//   node bench/eval-throughput.mjs [perClass=10] [models=tiny,ViT-B-32] [backends=cpu,wasm] [workers=2]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../dist/backend/index.js";
import { createModel, disposeModel, getModelConfig } from "../dist/model/index.js";
import { loadTokenizer } from "../dist/text/index.js";
import { builtinAssets, createEvalDecoder, scanImageFolder, zeroShotImageFolder } from "../dist/eval/index.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const perClass = Number(process.argv[2] ?? 10);
const models = (process.argv[3] ?? "tiny,ViT-B-32").split(",");
const backends = (process.argv[4] ?? "cpu,wasm").split(",");
const workers = Number(process.argv[5] ?? 2);
const tar = [path.join(root, "../shared/data/cifar10/test.tar"), "/work/shared/data/cifar10/test.tar"].find(existsSync);
if (!tar) throw new Error("cifar10/test.tar not found under ../shared/data");

const tmp = mkdtempSync(path.join(os.tmpdir(), "clipts-evalbench-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

// ---- data: N images per class, native and upscaled to 500x375
const small = path.join(tmp, "cifar");
const large = path.join(tmp, "cifar-500x375");
execFileSync("tar", ["xf", tar, "-C", tmp]);
const classes = builtinAssets("cifar10").classnames;
for (const c of classes) {
  mkdirSync(path.join(small, c), { recursive: true });
  mkdirSync(path.join(large, c), { recursive: true });
  const files = readdirSync(path.join(tmp, "test", c)).sort().slice(0, perClass);
  for (const f of files) {
    const src = path.join(tmp, "test", c, f);
    writeFileSync(path.join(small, c, f), readFileSync(src));
    await sharp(src).resize(500, 375, { kernel: "cubic", fit: "fill" }).jpeg({ quality: 90 }).toFile(path.join(large, c, f));
  }
}
const n = classes.length * perClass;
console.log(`# eval throughput: ${n} images (${perClass}/class, CIFAR-10 test), decode workers ${workers}, ${os.cpus().length} CPU cores (shared)`);

const naming = { classnames: classes };
const templates = builtinAssets("cifar10").templates;
const tokenizerCache = new Map();

async function decodeOnly(config, dir) {
  const dec = createEvalDecoder(config, { workers });
  const files = scanImageFolder(dir, naming).items.map((i) => i.file);
  const t0 = performance.now();
  await Promise.all(files.map((f) => dec.decode(readFileSync(f))));
  const s = (performance.now() - t0) / 1000;
  await dec.close();
  return files.length / s;
}

function modelOnly(model, batch = 16, reps = 2) {
  const s = model.config.vision.imageSize;
  const x = tf.randomNormal([batch, s, s, 3]);
  tf.tidy(() => model.encodeImage(x)).dispose(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const f = tf.tidy(() => model.encodeImage(x));
    f.dataSync();
    f.dispose();
  }
  x.dispose();
  return (batch * reps) / ((performance.now() - t0) / 1000);
}

const rows = [];
const towers = [];
for (const backend of backends) {
  await setBackend(backend);
  for (const name of models) {
    const model = createModel(name, { seed: 0 });
    const ctx = model.config.text.contextLength;
    if (!tokenizerCache.has(ctx)) tokenizerCache.set(ctx, await loadTokenizer({ kind: "clip", contextLength: ctx }));
    const tokenizer = tokenizerCache.get(ctx);
    // ViT-B-32 on a CPU backend is slow: fewer images for it.
    const pc = model.config.vision.imageSize >= 224 ? Math.min(perClass, 3) : perClass;
    for (const [label, dir] of [["32px", small], ["500x375", large]]) {
      const dec = createEvalDecoder(model.config, { workers });
      const r = await zeroShotImageFolder(model, tokenizer, { dataset: "cifar10", dataDir: dir, naming, templates, decode: dec.decode, perClass: pc, batchSize: 16, quiet: true });
      await dec.close();
      const total = r.timing.imagesMs;
      rows.push({
        backend,
        model: `${name} (${model.config.vision.imageSize}px)`,
        images: `${r.images} x ${label}`,
        "img/s end to end": r.timing.imagesPerSec.toFixed(1),
        "waiting for decode %": ((100 * r.timing.decodeWaitMs) / total).toFixed(1),
        "image tower %": ((100 * r.timing.modelMs) / total).toFixed(1),
        "text classifier s (180 prompts)": (r.timing.textMs / 1000).toFixed(2),
      });
      console.error(`done ${backend} ${name} ${label}`);
    }
    towers.push({ backend, model: name, rate: modelOnly(model) });
    disposeModel(model);
  }
}
const decodeRates = {};
for (const [label, dir] of [["32px", small], ["500x375", large]]) {
  for (const name of models) decodeRates[`${label} -> ${getModelConfig(name).vision.imageSize}px`] = await decodeOnly(getModelConfig(name), dir);
}

// ---- reference: PIL decode + torchvision eval transform, torchvision ViT-B/32 forward (2 threads)
const py = `
import os, sys, time, glob, torch, torchvision
from PIL import Image
import torchvision.transforms as T
torch.set_num_threads(2)
tf = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))])
for label, d in (("32px", sys.argv[1]), ("500x375", sys.argv[2])):
    files = sorted(glob.glob(os.path.join(d, "*", "*.jpg")))
    t0 = time.perf_counter()
    for f in files: tf(Image.open(f).convert("RGB"))
    print("decode", label, len(files) / (time.perf_counter() - t0))
m = torchvision.models.vit_b_32().eval()
x = torch.randn(16, 3, 224, 224)
with torch.no_grad():
    m(x)
    t0 = time.perf_counter()
    for _ in range(2): m(x)
print("model", 32 / (time.perf_counter() - t0))
`;
let ref = {};
try {
  const out = execFileSync("/usr/bin/python3", ["-c", py, small, large], { encoding: "utf8" });
  for (const line of out.trim().split("\n")) {
    const p = line.split(" ");
    ref[p[0] === "decode" ? `decode ${p[1]}` : "model"] = Number(p.at(-1));
  }
} catch (e) {
  console.error(`reference failed: ${e.message}`);
}

const cols = Object.keys(rows[0]);
console.log(`\n| ${cols.join(" | ")} |\n| ${cols.map(() => "---").join(" | ")} |`);
for (const r of rows) console.log(`| ${cols.map((c) => r[c]).join(" | ")} |`);
console.log(`\nimage tower alone (batch 16, random input):`);
for (const t of towers) console.log(`  ${t.backend} ${t.model}: ${t.rate.toFixed(1)} img/s`);
console.log(`\ndecode + eval transform alone (${workers} worker threads, sharp):`);
for (const [k, v] of Object.entries(decodeRates)) console.log(`  ${k}: ${v.toFixed(1)} img/s`);
console.log(`\nreference (PyTorch 1.13 + PIL/torchvision, 1 process, torch 2 threads) vs clipts:`);
for (const label of ["32px", "500x375"]) {
  const ours = decodeRates[`${label} -> 224px`];
  const theirs = ref[`decode ${label}`];
  if (ours && theirs) console.log(`  decode+Resize(224)+CenterCrop ${label}: clipts ${ours.toFixed(1)} img/s vs PIL ${theirs.toFixed(1)} img/s -> ratio ${(ours / theirs).toFixed(2)}`);
}
for (const t of towers.filter((t) => t.model === "ViT-B-32")) {
  if (ref.model) console.log(`  ViT-B/32 image tower (${t.backend}): clipts ${t.rate.toFixed(1)} img/s vs torchvision vit_b_32 ${ref.model.toFixed(1)} img/s -> ratio ${(t.rate / ref.model).toFixed(2)}`);
}
