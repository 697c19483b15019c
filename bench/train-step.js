// Benchmark: one trainer step (forward, backward, AdamW, logit-scale clamp, as
// src/train/step.ts + adamw.ts run it) of the `tiny` CLIP (image 64 px, patch 8,
// width 192, depth 4, 3 heads; text width 192, depth 4, context 32; batch 32)
// on each available tfjs backend, side by side with the same model in PyTorch
// on the CPU. The PyTorch side is the model stage's reference
// (bench/model-step-ref.py: open_clip layout, same state-dict shapes checked,
// torch.optim.Adam), so there is one PyTorch model for both benchmarks.
// Run after `npm run build`:  node bench/train-step.js [steps=5] [torchThreads=2] [warmup=2] [backends=all available, e.g. cpu,wasm,torch]
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { availableBackends, setBackend } from "../dist/backend/index.js";
import { createModel, disposeModel, countParams, getModelConfig, paramShapes } from "../dist/model/index.js";
import { clampLogitScale } from "../dist/loss/index.js";
import { AdamW } from "../dist/train/adamw.js";
import { modelObjective } from "../dist/train/objective.js";
import { computeGradients, splitBatch } from "../dist/train/step.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const steps = Number(process.argv[2] ?? 5);
const torchThreads = Number(process.argv[3] ?? 2);
const warmup = Number(process.argv[4] ?? 2);
const only = process.argv[5] ? process.argv[5].split(",") : null;
const B = 32;

function batch(c) {
  const s = c.vision.imageSize;
  const ctx = c.text.contextLength;
  const images = tf.randomNormal([B, s, s, 3], 0, 1, "float32", 1);
  const ids = new Int32Array(B * ctx);
  for (let i = 0; i < B; i++) {
    ids[i * ctx] = 49406;
    for (let j = 1; j < ctx - 1; j++) ids[i * ctx + j] = 1 + ((i * 7919 + j * 104729) % 49000);
    ids[i * ctx + ctx - 1] = 49407;
  }
  return { images, tokens: tf.tensor2d(ids, [B, ctx], "int32") };
}

async function benchBackend(name) {
  await setBackend(name);
  const model = createModel("tiny", { seed: 0 });
  const opt = new AdamW(model.params, { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.2 });
  const { images, tokens } = batch(model.config);
  let gradMs = 0;
  let optMs = 0;
  const step = () => {
    const t0 = performance.now();
    const { loss, grads } = computeGradients(model, splitBatch(images, tokens, 1), modelObjective);
    const t1 = performance.now();
    opt.apply(grads, 5e-4);
    clampLogitScale(model);
    // The trainer reads losses at log steps; reading one here waits for the step to finish.
    loss.dataSync();
    tf.dispose([loss, ...grads.values()]);
    gradMs = t1 - t0;
    optMs = performance.now() - t1;
  };
  for (let i = 0; i < warmup; i++) step();
  const times = [];
  const grad = [];
  const optim = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
    grad.push(gradMs);
    optim.push(optMs);
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  times.sort((a, b) => a - b);
  // Kernel count and engine time per op for one step (the profiler's overhead is not in the timings above).
  const prof = await tf.profile(() => step());
  const kernelMs = prof.kernels.reduce((a, k) => a + (typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0), 0);
  const byKernel = new Map();
  for (const k of prof.kernels) {
    const e = byKernel.get(k.name) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    byKernel.set(k.name, e);
  }
  const top = [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 5).map(([n, e]) => `${n} ${e.n}x ${e.ms.toFixed(0)}ms`);
  tf.dispose([images, tokens]);
  opt.dispose();
  disposeModel(model);
  return { backend: name, median: times[Math.floor(times.length / 2)], min: times[0], grad: med(grad), optim: med(optim), kernels: prof.kernels.length, kernelMs, top };
}

const cfg = getModelConfig("tiny");
console.log(`tiny CLIP: ${countParams(cfg).toLocaleString("en-US")} params, batch ${B}, ${steps} timed steps after ${warmup} warm-up steps`);
const job = JSON.stringify({ config: cfg, batch: B, steps, warmup, threads: torchThreads });
const torch = spawnSync("/usr/bin/python3", [path.join(here, "model-step-ref.py")], { input: job, encoding: "utf8", maxBuffer: 1 << 26 });
let ref = null;
if (torch.status === 0) {
  ref = JSON.parse(torch.stdout.trim().split("\n").pop());
  ref.ms_per_step_median = ref.fwdBwdMs + ref.adamMs;
  const mine = paramShapes(cfg);
  const same = ref.params === countParams(cfg) && [...mine].every(([k, s]) => JSON.stringify(ref.shapes[k]) === JSON.stringify(s));
  if (!same) throw new Error("the PyTorch reference builds a different model");
  console.log(`PyTorch ${ref.torch} CPU (${ref.threads} threads, same ${ref.params.toLocaleString("en-US")} params): fwd+bwd ${ref.fwdBwdMs.toFixed(0)} ms + Adam ${ref.adamMs.toFixed(0)} ms = ${ref.ms_per_step_median.toFixed(0)} ms/step (medians)`);
} else console.log(`PyTorch reference failed: ${torch.stderr.trim().split("\n").pop()}`);

const rows = [];
for (const name of await availableBackends()) {
  if (only && !only.includes(name)) continue;
  try {
    const r = await benchBackend(name);
    console.log(`${name}: median ${r.median.toFixed(0)} ms/step`);
    rows.push(r);
  } catch (e) {
    console.log(`${name}: failed: ${e.message}`);
  }
}
console.log("");
console.log("backend   ms/step(median)  ms/step(min)  fwd+bwd ms  AdamW ms  x PyTorch  kernels/step  engine ms/op");
for (const r of rows) {
  const ratio = ref ? (r.median / ref.ms_per_step_median).toFixed(2) : "-";
  console.log(
    `${r.backend.padEnd(9)} ${r.median.toFixed(0).padStart(15)}  ${r.min.toFixed(0).padStart(12)}  ${r.grad.toFixed(0).padStart(10)}  ${r.optim.toFixed(0).padStart(8)}  ${ratio.padStart(9)}  ${String(r.kernels).padStart(12)}  ${(r.kernelMs / r.kernels).toFixed(3).padStart(12)}`,
  );
}
for (const r of rows) console.log(`${r.backend} top kernels: ${r.top.join(", ")}`);
if (ref) console.log(`torch     ${ref.ms_per_step_median.toFixed(0).padStart(15)}  ${"-".padStart(12)}  ${ref.fwdBwdMs.toFixed(0).padStart(10)}  ${ref.adamMs.toFixed(0).padStart(8)}       1.00`);
