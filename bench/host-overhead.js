// Host overhead of a training step on the torch backend: how many kernels a
// step dispatches and how much host (JavaScript) time they cost, with the
// device's work taken out. On a GPU the device is fast and runs behind the
// host, so a step can go no faster than its host work; this is the figure to
// keep small (issue target: <= 15 ms for ViT-B/16).
//
// How the device's work is taken out: every addon function is wrapped with a
// counter and a timer, so a step's wall time splits into time inside native
// calls and time outside them (tfjs dispatch, autodiff bookkeeping, clipts'
// own JS). On the CPU the native time holds the arithmetic; on a GPU it holds
// only the launches. The projected GPU host time adds one native call's fixed
// cost (measured on a 1-element op, where the arithmetic is nothing) per
// call. bench/gpu/run.sh runs this on cuda:0, where "host ms" is measured
// directly (native calls only enqueue work there).
//
// Phases, each as the trainer runs it (src/train/step.ts, adamw.ts):
// forward (loss only), forward+backward (computeGradients) and AdamW.
//
// On the CPU the full-width rows overstate the JavaScript side: it runs
// between native calls that each stream megabytes through the caches. The
// host-bound rows ("ViT-B-16 narrow": every layer, kernel and native call of
// ViT-B/16, at width 64) take the arithmetic out instead, as a GPU does: their
// wall time is host work, JavaScript and libtorch's own dispatch alike. The
// same narrow model's step in PyTorch eager (bench/torch-step.py, same
// libtorch) runs beside it: the ratio is clipts' host cost against
// PyTorch's, the figure that decides whether clipts keeps a GPU as busy.
// Usage (after `npm run build`): node bench/host-overhead.js [--models tiny,ViT-B-16] [--steps 3] [--device cpu|cuda:0] [--batch 1] [--narrow ViT-B-16|none] [--python /usr/bin/python3] [--pyscript bench/torch-step.py]
import { execFileSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs-core";

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : process.argv[i + 1];
};
const models = arg("models", "tiny,ViT-B-16").split(",");
const steps = Number(arg("steps", 3));
const device = arg("device", "cpu");
const batchSize = Number(arg("batch", 1));
const narrowModel = arg("narrow", "ViT-B-16");
const python = arg("python", "/usr/bin/python3");
const pyscript = arg("pyscript", new URL("./torch-step.py", import.meta.url).pathname);

const torchMod = await import("../dist/backend/torch.js");
const { loadTorchAddon } = await import("../dist/backend/torch-native.js");
if (!torchMod.torchAvailable().available) {
  console.log(`host-overhead: skipped: ${torchMod.torchAvailable().reason}`);
  process.exit(0);
}
// As the trainer does it, so the optimizer finds the fused AdamW update.
await (await import("../dist/backend/index.js")).setBackend("torch", { device });
const { createModel, disposeModel, getModelConfig } = await import("../dist/model/index.js");
const { clampLogitScale } = await import("../dist/loss/index.js");
const { AdamW } = await import("../dist/train/adamw.js");
const { modelObjective } = await import("../dist/train/objective.js");
const { computeGradients, splitBatch } = await import("../dist/train/step.js");

// Count and time every native call (the addon object's functions are plain properties).
const addon = loadTorchAddon().addon;
const counter = { calls: 0, ms: 0 };
for (const [name, fn] of Object.entries(addon)) {
  if (typeof fn !== "function" || name === "memory" || name === "sync") continue;
  addon[name] = function (...args) {
    const t0 = performance.now();
    try {
      return fn.apply(this, args);
    } finally {
      counter.ms += performance.now() - t0;
      counter.calls++;
    }
  };
}
// Count tfjs kernel dispatches: the engine looks kernels up in the registry on
// every call, so wrapping the registered configs counts each one.
const kernels = { n: 0 };
for (const k of tf.getKernelsForBackend("torch")) {
  const f = k.kernelFunc;
  k.kernelFunc = (...a) => {
    kernels.n++;
    return f(...a);
  };
}

/** Per-call fixed cost of the addon: a 1-element op, so no arithmetic to speak of. */
function nativeCallCost() {
  const x = tf.scalar(1);
  for (let i = 0; i < 200; i++) tf.neg(x).dispose();
  const n = 5000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) tf.neg(x).dispose();
  torchMod.torchSync();
  x.dispose();
  return (performance.now() - t0) / n;
}

function measure(fn) {
  const c0 = { ...counter }, k0 = kernels.n;
  const t0 = performance.now();
  fn();
  const ms = performance.now() - t0;
  return { ms, nativeMs: counter.ms - c0.ms, calls: counter.calls - c0.calls, kernels: kernels.n - k0 };
}

function batch(c) {
  const s = c.vision.imageSize, ctx = c.text.contextLength;
  const ids = new Int32Array(batchSize * ctx).map((_, i) => (i % ctx === ctx - 1 ? 49407 : 1 + ((i * 7919) % 49000)));
  return { images: tf.randomNormal([batchSize, s, s, 3], 0, 1, "float32", 1), tokens: tf.tensor2d(ids, [batchSize, ctx], "int32") };
}

/** A model's config at width 64 (2 heads, embedding 32): the same layers, kernels and native calls, next to no arithmetic. */
function narrow(name) {
  const c = getModelConfig(name);
  c.name = `${name} narrow`;
  c.embedDim = 32;
  Object.assign(c.vision, { width: 64, heads: 2 });
  Object.assign(c.text, { width: 64, heads: 2 });
  return c;
}

const perCallMs = nativeCallCost();
const rows = [];
const configs = [...models.map((m) => getModelConfig(m)), ...(narrowModel === "none" ? [] : [narrow(narrowModel)])];
for (const config of configs) {
  const name = config.name;
  const model = createModel(config, { seed: 0 });
  const opt = new AdamW(model.params, { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.2 });
  const { images, tokens } = batch(model.config);
  const sums = { forward: [], "fwd+bwd": [], adamw: [] };
  for (let i = 0; i < steps + 1; i++) {
    const f = measure(() => tf.tidy(() => modelObjective(model, model.encodeImage(images), model.encodeText(tokens))).dispose());
    let grads, loss;
    const fb = measure(() => ({ loss, grads } = computeGradients(model, splitBatch(images, tokens, 1), modelObjective)));
    const o = measure(() => {
      opt.apply(grads, 5e-4);
      clampLogitScale(model);
    });
    loss.dataSync();
    tf.dispose([loss, ...grads.values()]);
    torchMod.torchSync();
    if (i === 0) continue; // warm-up
    sums.forward.push(f);
    sums["fwd+bwd"].push(fb);
    sums.adamw.push(o);
  }
  const med = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[xs.length >> 1];
  for (const [phase, xs] of Object.entries(sums)) {
    const hostMs = med(xs, "ms") - med(xs, "nativeMs");
    rows.push({ model: name, phase, kernels: med(xs, "kernels"), calls: med(xs, "calls"), ms: med(xs, "ms"), hostMs, gpuHostMs: hostMs + med(xs, "calls") * perCallMs });
  }
  const step = (k) => rows.filter((r) => r.model === name && r.phase !== "forward").reduce((s, r) => s + r[k], 0);
  rows.push({ model: name, phase: "train step", kernels: step("kernels"), calls: step("calls"), ms: step("ms"), hostMs: step("hostMs"), gpuHostMs: step("gpuHostMs") });
  opt.dispose();
  disposeModel(model);
  tf.dispose([images, tokens]);
}

console.log(`torch backend on ${device}, batch ${batchSize}, median of ${steps} steps; one native call's fixed cost ${(perCallMs * 1000).toFixed(1)} us`);
console.log(`("train step" = forward+backward + AdamW; host ms = wall ms - time inside native calls; projected GPU host ms = host ms + native calls x fixed cost)`);
const cols = ["model", "phase", "tfjs kernels", "native calls", "wall ms", "host ms", "proj. GPU host ms"];
console.log(cols.map((c, i) => (i < 2 ? c.padEnd(i ? 12 : 16) : c.padStart(18))).join(""));
for (const r of rows) {
  console.log([r.model.padEnd(16), r.phase.padEnd(12), ...[r.kernels, r.calls].map((x) => String(x).padStart(18)),
    ...[r.ms, r.hostMs, r.gpuHostMs].map((x) => x.toFixed(1).padStart(18))].join(""));
}

// The host-bound step against PyTorch eager's on the same narrow model.
if (narrowModel !== "none") {
  const c = narrow(narrowModel);
  const ours = rows.find((r) => r.model === c.name && r.phase === "train step");
  let ref = null;
  try {
    const pyDevice = device.startsWith("cuda") ? "cuda" : "cpu";
    const out = execFileSync(python, [pyscript, "--batch", String(batchSize), "--steps", String(Math.max(steps, 10)),
      "--warmup", "3", "--device", pyDevice, "--dims", JSON.stringify(c)], { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? "1" } });
    ref = JSON.parse(out.trim().split("\n").at(-1));
  } catch (e) {
    console.log(`\nPyTorch reference skipped (${python}: ${String(e.message).split("\n")[0]})`);
  }
  if (ref) {
    console.log(`\nhost-bound step (${c.name}, batch ${batchSize}; PyTorch ${ref.torch} eager, AdamW as torch.optim's default, loss read each step):`);
    console.log(`  clipts ${ours.ms.toFixed(1)} ms (JS ${ours.hostMs.toFixed(1)} ms) vs PyTorch ${ref.step_ms.toFixed(1)} ms: ${(ours.ms / ref.step_ms).toFixed(2)}x`);
  }
}
