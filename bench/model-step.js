// Benchmark: one CLIP training step (forward + backward + Adam) of a model
// config at a batch size, on the tfjs cpu and wasm backends, side by side with
// the same model in PyTorch 1.13 on CPU (bench/model-step-ref.py, run by
// /usr/bin/python3). Also checks that both sides build the same parameters.
// Run after `npm run build`:
//   node bench/model-step.js [--config tiny] [--batch 32] [--steps 5] [--backends cpu,wasm] [--threads 1]
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { setBackend } = await import(path.join(root, "dist/backend/index.js"));
const { createModel, disposeModel, getModelConfig, paramShapes, countParams, flopsPerSample } = await import(path.join(root, "dist/model/index.js"));
const { modelLoss } = await import(path.join(root, "dist/loss/index.js"));

const args = Object.fromEntries(process.argv.slice(2).join(" ").split("--").filter(Boolean).map((s) => s.trim().split(/\s+/)));
const configName = args.config ?? "tiny";
const batch = Number(args.batch ?? 32);
const steps = Number(args.steps ?? 5);
const warmup = 1;
const backends = (args.backends ?? "cpu,wasm").split(",");
const threads = (args.threads ?? "1").split(",").map(Number);
const config = getModelConfig(configName);

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function tfjsStep(backend) {
  await setBackend(backend);
  const m = createModel(config, { seed: 0 });
  const s = config.vision.imageSize;
  const ctx = config.text.contextLength;
  const imgs = tf.randomNormal([batch, s, s, 3], 0, 1, "float32", 1);
  const toks = tf.tensor2d(Array.from({ length: batch * ctx }, (_, i) => (i % ctx === 20 ? config.text.vocabSize - 2 : 1 + ((i * 7919) % 999))), [batch, ctx], "int32");
  const vars = [...m.params.values()];
  const opt = tf.train.adam(1e-4);
  const fb = [], ad = [];
  let loss = NaN;
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => modelLoss(m, imgs, toks), vars);
    loss = value.dataSync()[0];
    const t1 = performance.now();
    opt.applyGradients(grads);
    vars[vars.length - 1].dataSync(); // wait for the update
    const t2 = performance.now();
    tf.dispose([value, grads]);
    if (i >= warmup) { fb.push(t1 - t0); ad.push(t2 - t1); }
  }
  disposeModel(m);
  opt.dispose();
  tf.dispose([imgs, toks]);
  return { fwdBwdMs: median(fb), adamMs: median(ad), loss };
}

function torchStep(nThreads) {
  const job = JSON.stringify({ config, batch, steps, warmup, threads: nThreads });
  const r = spawnSync("/usr/bin/python3", [path.join(root, "bench/model-step-ref.py")], { input: job, encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`PyTorch reference failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

const rows = [];
for (const n of threads) {
  const t = torchStep(n);
  // Same model on both sides: every open_clip state-dict key with the same shape.
  const mine = paramShapes(config);
  const mismatched = [...mine].filter(([k, s]) => JSON.stringify(t.shapes[k]) !== JSON.stringify(s)).map(([k]) => k);
  const extra = Object.keys(t.shapes).filter((k) => !mine.has(k));
  if (mismatched.length || extra.length || t.params !== countParams(config)) {
    throw new Error(`model mismatch: ${mismatched.length} keys differ (${mismatched.slice(0, 3)}), ${extra.length} extra (${extra.slice(0, 3)}), params ${t.params} vs ${countParams(config)}`);
  }
  rows.push({ side: `pytorch ${t.torch} cpu, ${t.threads} thread(s)`, ...t });
}
for (const be of backends) rows.push({ side: `tfjs ${be}`, ...(await tfjsStep(be)) });

const ref = rows[0];
const total = (r) => r.fwdBwdMs + r.adamMs;
const gflop = (flopsPerSample(config) * batch) / 1e9;
console.log(`model ${configName} (${countParams(config).toLocaleString("en-US")} params, same state-dict keys/shapes on both sides), batch ${batch}, median of ${steps} steps after ${warmup} warm-up`);
console.log(`training FLOPs per step ≈ ${gflop.toFixed(1)} GFLOP (3 × forward matmul FLOPs)`);
console.log("side".padEnd(40) + "fwd+bwd ms".padStart(12) + "adam ms".padStart(10) + "step ms".padStart(10) + "GFLOP/s".padStart(9) + `  ratio vs ${ref.side}`);
for (const r of rows) {
  console.log(r.side.padEnd(40) + r.fwdBwdMs.toFixed(0).padStart(12) + r.adamMs.toFixed(0).padStart(10) + total(r).toFixed(0).padStart(10) + (gflop / (total(r) / 1e3)).toFixed(2).padStart(9) + `  ${(total(r) / total(ref)).toFixed(2)}×`);
}
