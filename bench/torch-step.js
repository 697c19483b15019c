// Training-step benchmark of the torch backend against PyTorch on the same
// libtorch: the tiny CLIP (image 64, patch 8, width 192, depth 4, 3 heads;
// text width 192, depth 4, ctx 32; batch 32), forward + backward + AdamW,
// ms/step side by side, plus a 1024³ matmul GFLOP/s line.
//
// Usage (after `npm run build` and `node scripts/build-native.js`):
//   node bench/torch-step.js [--batch 32] [--steps 5] [--device cpu|cuda:0] [--bf16]
//     [--python /usr/bin/python3] [--pyscript bench/torch-step.py] [--fused 0|1]
//     [--model tiny|ViT-B-16|...] [--warmup 2] [--peak-tflops N]
// Model FLOPs utilization (MFU) = model training FLOPs per second (matmul
// FLOPs of forward + backward, src/model/estimate.ts) / the device's peak:
// --peak-tflops, else NVIDIA's dense figure for an H100 SXM (80GB HBM3) or
// H200 (bf16 989, TF32 495 TFLOP/s; PCIe and NVL parts are lower, so they
// need --peak-tflops); without either the MFU row is left out.
// Without the model modules (dist/model, dist/loss) it times a transformer
// block's worth of ops instead and says so.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs"; // registers tfjs-core's gradients (as src/model does)

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : process.argv[i + 1];
};
const batch = Number(arg("batch", 32));
const steps = Number(arg("steps", 5));
const device = arg("device", "cpu");
const bf16 = process.argv.includes("--bf16");
const python = arg("python", "/usr/bin/python3");
const pyscript = arg("pyscript", join(here, "torch-step.py"));
const fused = arg("fused", "1") !== "0";
const modelName = arg("model", "tiny");
const warmup = Number(arg("warmup", 2));
const peakArg = arg("peak-tflops", undefined);

const torchMod = await import("../dist/backend/torch.js");
if (!torchMod.registerTorchBackend({ device, bf16, noFusedOps: !fused })) {
  console.log(`torch-step: skipped: ${torchMod.torchAvailable().reason}`);
  process.exit(0);
}
await tf.setBackend("torch");

// Literal specifiers so bench/gpu/prepare.sh's bundler includes them.
const modelMod = await import("../dist/model/index.js").catch(() => null);
const lossMod = await import("../dist/loss/index.js").catch(() => null);
// Register the fused ops with the registry this script's model uses (in a
// bundle, torch.js cannot find it by relative path).
const registry = await import("../dist/model/ops/registry.js").catch(() => null);
if (registry && fused) torchMod.registerTorchFusedOps(registry);

let peak = null;
function timeIt(fn, warmup, n) {
  for (let i = 0; i < warmup; i++) fn();
  torchMod.torchSync();
  torchMod.torchNativeMemory(true);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  torchMod.torchSync();
  const ms = (performance.now() - t0) / n;
  peak ??= torchMod.torchNativeMemory(); // the step's, not the matmul's below
  return ms;
}

/** AdamW with PyTorch's semantics (decoupled decay on >=2-D weights); --fused 1 uses the addon's in-place update. */
function makeAdamW(params, lr = 5e-4, wd = 0.2, b1 = 0.9, b2 = 0.98, eps = 1e-6) {
  const m = new Map(), v = new Map();
  for (const [n, p] of params) {
    m.set(n, tf.variable(tf.zerosLike(p), false));
    v.set(n, tf.variable(tf.zerosLike(p), false));
  }
  let t = 0;
  return (grads) => {
    t++;
    if (fused) {
      // One in-place addon call for every parameter (torchAdamWUpdate).
      const items = [...params].filter(([n]) => grads.get(n)).map(([n, p]) => ({ param: p, grad: grads.get(n), expAvg: m.get(n), expAvgSq: v.get(n), weightDecay: p.rank >= 2 ? wd : 0 }));
      torchMod.torchAdamWUpdate(items, { lr, beta1: b1, beta2: b2, eps, step: t });
      return;
    }
    const stepSize = lr / (1 - b1 ** t), bc2 = Math.sqrt(1 - b2 ** t);
    for (const [n, p] of params) {
      const g = grads.get(n);
      if (!g) continue;
      tf.tidy(() => {
        const mi = tf.add(tf.mul(m.get(n), b1), tf.mul(g, 1 - b1));
        const vi = tf.add(tf.mul(v.get(n), b2), tf.mul(tf.square(g), 1 - b2));
        m.get(n).assign(mi);
        v.get(n).assign(vi);
        const decayed = p.rank >= 2 ? tf.mul(p, 1 - lr * wd) : p;
        p.assign(tf.sub(decayed, tf.mul(tf.div(mi, tf.add(tf.div(tf.sqrt(vi), bc2), eps)), stepSize)));
      });
    }
  };
}

let stepMs, what, dims = "", trainFlops = 0;
if (modelMod && lossMod) {
  what = `${modelName} CLIP step, batch ${batch}${fused ? ", fused ops + fused AdamW" : ", reference ops + tfjs-op AdamW"}`;
  const model = modelMod.createModel(modelName, { seed: 0 });
  dims = JSON.stringify(model.config);
  trainFlops = modelMod.flopsPerSample(model.config) * batch;
  const s = model.config.vision.imageSize, ctx = model.config.text.contextLength;
  const images = tf.randomNormal([batch, s, s, 3]);
  const eot = Math.floor((ctx * 2) / 3);
  const tokData = new Int32Array(batch * ctx).map((_, i) => (i % ctx === eot ? 49407 : 1 + ((i * 7919) % 49000)));
  const tokens = tf.tensor2d(tokData, [batch, ctx], "int32");
  const vars = [...model.params.values()];
  const adamw = makeAdamW(model.params);
  stepMs = timeIt(() => {
    const { value, grads } = tf.variableGrads(() => lossMod.modelLoss(model, images, tokens), vars);
    const byName = new Map([...model.params].map(([n, p]) => [n, grads[p.name]]));
    adamw(byName);
    value.dataSync(); // a trainer reads the loss every step
    tf.dispose([value, ...Object.values(grads)]);
  }, warmup, steps);
} else {
  // Transformer-block-sized op sequence: LN, QKV, attention, proj, MLP, with grads.
  what = `transformer-block op sequence (model modules absent), tokens ${batch}x65, width 192`;
  const w = (r, c) => tf.variable(tf.mul(tf.randomNormal([r, c]), 0.02));
  const [wqkv, wo, w1, w2] = [w(192, 576), w(192, 192), w(192, 768), w(768, 192)];
  const x = tf.randomNormal([batch, 65, 192]);
  const block = () => {
    const ln = (t) => { const { mean, variance } = tf.moments(t, -1, true); return tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, 1e-5))); };
    const qkv = tf.reshape(tf.matMul(tf.reshape(ln(x), [-1, 192]), wqkv), [batch, 65, 3, 3, 64]);
    const [q, k, v] = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4]));
    const a = tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 0.125)), v);
    const h = tf.add(x, tf.reshape(tf.matMul(tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [-1, 192]), wo), x.shape));
    const m = tf.matMul(tf.relu(tf.matMul(tf.reshape(ln(h), [-1, 192]), w1)), w2);
    return tf.mean(tf.square(tf.add(h, tf.reshape(m, x.shape))));
  };
  stepMs = timeIt(() => {
    const { value, grads } = tf.variableGrads(block);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  }, 2, steps);
}

const a = tf.randomNormal([1024, 1024]), b = tf.randomNormal([1024, 1024]);
const mmMs = timeIt(() => tf.matMul(a, b).dispose(), 3, 20); // oneDNN warms up over a few calls
const gflops = (2 * 1024 ** 3) / (mmMs / 1000) / 1e9;

const nativeInfo = torchMod.torchInfo();
const info = spawnSync(python, [pyscript, "--batch", String(batch), "--steps", String(steps),
  "--threads", String(nativeInfo.threads),
  "--device", device.startsWith("cuda") ? "cuda" : "cpu", "--warmup", String(warmup), ...(bf16 ? ["--bf16"] : []),
  ...(dims ? ["--dims", dims] : [])], { encoding: "utf8" });
let ref = null;
if (info.status === 0) ref = JSON.parse(info.stdout.trim().split("\n").pop());
else console.log(`PyTorch reference failed: ${info.stderr.trim().split("\n").pop()}`);

const f = (x) => (x === undefined ? "-" : x.toFixed(1));
console.log(`torch backend (${device}${bf16 ? ", bf16" : ""}, ${nativeInfo.threads} threads) vs PyTorch ${ref?.torch ?? "?"}; ${what}`);
console.log(`${"".padEnd(26)}${"torch backend".padStart(14)}${"PyTorch".padStart(10)}${"ratio".padStart(8)}`);
if (ref) console.log(`PyTorch attention: ${ref.sdpa ? "F.scaled_dot_product_attention" : "math (softmax(QK^T)V)"}, threads ${ref.threads}`);
console.log(`${"ms/step".padEnd(26)}${f(stepMs).padStart(14)}${f(ref?.step_ms).padStart(10)}${(ref ? (stepMs / ref.step_ms).toFixed(2) + "x" : "-").padStart(8)}`);
if (modelMod && lossMod) {
  const sps = (ms) => (ms === undefined ? undefined : (batch * 1000) / ms);
  console.log(`${"samples/s".padEnd(26)}${f(sps(stepMs)).padStart(14)}${f(sps(ref?.step_ms)).padStart(10)}`);
  const tflops = (ms) => (ms === undefined ? undefined : trainFlops / (ms / 1000) / 1e12);
  console.log(`${"model TFLOP/s".padEnd(26)}${tflops(stepMs).toFixed(2).padStart(14)}${(tflops(ref?.step_ms)?.toFixed(2) ?? "-").padStart(10)}`);
  const hopper = /H100 80GB HBM3|H100 SXM|H200(?! NVL)/.test(ref?.device_name ?? "") ? (bf16 ? 989 : 495) : undefined;
  const peakTflops = peakArg !== undefined ? Number(peakArg) : hopper;
  if (peakTflops) {
    const mfu = (ms) => (ms === undefined ? "-" : ((100 * tflops(ms)) / peakTflops).toFixed(1) + "%");
    console.log(`${`MFU (peak ${peakTflops} TFLOP/s)`.padEnd(26)}${mfu(stepMs).padStart(14)}${mfu(ref?.step_ms).padStart(10)}`);
  }
}
// Tensors the addon held at the peak (and the CUDA allocator's peak, which
// also sees temporaries) vs torch.cuda.max_memory_allocated() on a GPU.
const mib = (b) => (b === undefined || b === null ? undefined : b / 2 ** 20);
console.log(`${"peak tensor MiB".padEnd(26)}${f(mib(peak?.peakBytes)).padStart(14)}${"-".padStart(10)}`);
if (peak?.cudaPeakBytes != null || ref?.cuda_peak_bytes != null) {
  const ratio = peak?.cudaPeakBytes && ref?.cuda_peak_bytes ? (peak.cudaPeakBytes / ref.cuda_peak_bytes).toFixed(2) + "x" : "-";
  console.log(`${"CUDA allocator peak MiB".padEnd(26)}${f(mib(peak?.cudaPeakBytes)).padStart(14)}${f(mib(ref?.cuda_peak_bytes)).padStart(10)}${ratio.padStart(8)}`);
}
console.log(`${"matmul 1024^3 GFLOP/s".padEnd(26)}${f(gflops).padStart(14)}${f(ref?.matmul_gflops).padStart(10)}${(ref ? (ref.matmul_gflops / gflops).toFixed(2) + "x" : "-").padStart(8)}`);
if (!modelMod || !lossMod) console.log("note: PyTorch column is the full tiny CLIP step; torch column is one block (not comparable)");
