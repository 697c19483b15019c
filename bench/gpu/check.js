// Correctness of the torch backend on a device (e.g. cuda:0) against the cpu
// backend: representative kernels with broadcasting/transposes, the fused ops
// against the model's reference ops (forward + gradients), a micro CLIP
// training step, and bf16 mode with a loose tolerance. Bundled by
// bench/gpu/prepare.sh and run by bench/gpu/run.sh; also runs from a checkout
// after `npm run build`: node bench/gpu/check.js --device cpu
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs"; // registers tfjs-core's gradients

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : process.argv[i + 1];
};
const device = arg("device", "cuda:0");

const torch = await import("../../dist/backend/torch.js");
const modelMod = await import("../../dist/model/index.js").catch(() => null);
const lossMod = await import("../../dist/loss/index.js").catch(() => null);
const registry = await import("../../dist/model/ops/registry.js").catch(() => null);
if (!torch.registerTorchBackend({ device })) {
  console.log(`check: torch addon unavailable: ${torch.torchAvailable().reason}`);
  process.exit(1);
}
if (registry) torch.registerTorchFusedOps(registry);
console.log(`check: torch backend on ${JSON.stringify(torch.torchInfo())}`);

class Inputs {
  constructor(seed) { this.s = seed >>> 0; }
  next() { // mulberry32
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  rand(shape, lo = -1, hi = 1) {
    const n = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(Float32Array.from({ length: n }, () => lo + (hi - lo) * this.next()), shape);
  }
  int(shape, lo, hi) {
    const n = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(Int32Array.from({ length: n }, () => lo + Math.floor(this.next() * (hi - lo))), shape, "int32");
  }
}

async function run(backend, f) {
  await tf.setBackend(backend);
  const outs = tf.tidy(() => [f(new Inputs(7))].flat());
  const r = outs.map((t) => ({ shape: t.shape, dtype: t.dtype, v: t.dataSync() }));
  tf.dispose(outs);
  return r;
}

let failures = 0;
async function check(name, f, rtol = 1e-4, atol = 1e-5, setup) {
  try {
    const ref = await run("cpu", f);
    if (setup) setup(true);
    const got = await run("torch", f);
    if (setup) setup(false);
    let worst = 0, where = "";
    for (let i = 0; i < ref.length; i++) {
      if (JSON.stringify(ref[i].shape) !== JSON.stringify(got[i].shape) || ref[i].dtype !== got[i].dtype) {
        throw new Error(`output ${i}: ${got[i].dtype}[${got[i].shape}] vs cpu ${ref[i].dtype}[${ref[i].shape}]`);
      }
      for (let j = 0; j < ref[i].v.length; j++) {
        const r = ref[i].v[j], g = got[i].v[j];
        const e = r === g || (Number.isNaN(r) && Number.isNaN(g)) ? 0 : Math.abs(g - r) / (atol + rtol * Math.abs(r));
        if (!(e <= worst)) { worst = e; where = `output ${i}[${j}] ${g} vs ${r}`; }
      }
    }
    const ok = worst <= 1;
    if (!ok) failures++;
    console.log(`${ok ? "PASS" : "FAIL"} ${name}${ok ? "" : `: ${where}`} (err/tol ${worst.toFixed(3)})`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.message.split("\n")[0]}`);
  }
}

const vg = (f, xs) => { const { value, grads } = tf.valueAndGrads(f)(xs); return [value, ...grads]; };

// Kernels.
await check("matMul (all transposes) + batch broadcast", (m) => [
  tf.matMul(m.rand([65, 96]), m.rand([96, 40])), tf.matMul(m.rand([96, 65]), m.rand([40, 96]), true, true),
  tf.matMul(m.rand([2, 3, 17, 64]), m.rand([2, 3, 17, 64]), false, true),
], 1e-3, 1e-4);
await check("fused matMul bias+relu", (m) => tf.fused.matMul({ a: m.rand([33, 64]), b: m.rand([64, 48]), bias: m.rand([48]), activation: "relu" }), 1e-3, 1e-4);
await check("elementwise + broadcasting", (m) => { const a = m.rand([4, 1, 8]), b = m.rand([6, 1]); return [tf.add(a, b), tf.mul(a, b), tf.div(a, tf.add(tf.abs(b), 0.5)), tf.maximum(a, b), tf.exp(a), tf.erf(a), tf.tanh(b), tf.sigmoid(a), tf.sqrt(tf.abs(a)), tf.greater(a, b)]; });
await check("reductions, softmax, argmax", (m) => { const x = m.rand([6, 9, 5]); return [tf.sum(x, [0, 2]), tf.mean(x, -1, true), tf.max(x, 1), tf.softmax(x), tf.logSoftmax(x), tf.argMax(x, 1)]; });
await check("gather / segment sum / oneHot / concat / slice", (m) => { const x = m.rand([7, 4]); const i = m.int([5], 0, 7); return [tf.gather(x, i), tf.unsortedSegmentSum(x, m.int([7], 0, 3), 3), tf.oneHot(i, 7), tf.concat([x, x], 1), tf.slice(x, [1, 1], [3, 2]), tf.transpose(x), tf.reshape(tf.transpose(x), [2, 14])]; });
await check("conv2d patchify", (m) => tf.conv2d(m.rand([2, 16, 16, 3]), m.rand([8, 8, 3, 16]), 8, "valid"), 1e-3, 1e-4);
await check("gradients of a composite", (m) => {
  const x = m.rand([8, 16]), w = m.rand([16, 12]), idx = m.int([5], 0, 8);
  return vg((x, w) => tf.sum(tf.mul(tf.log(tf.add(tf.abs(tf.gather(tf.softmax(tf.matMul(x, w)), idx)), 0.1)), 0.5)), [x, w]);
}, 1e-3, 1e-5);

// Fused ops (torch) against the model's reference ops (cpu).
const ops = modelMod?.ops;
if (ops) {
  const both = (fused, reference) => (...a) => (tf.getBackend() === "torch" ? fused(...a) : reference(...a));
  const f = torch.torchFusedOps();
  await check("fused layerNorm fwd+grad", (m) => { const x = m.rand([4, 9, 64], -2, 2), g = m.rand([64]), b = m.rand([64]), w = m.rand([4, 9, 64]); return vg((x, g, b) => tf.sum(tf.mul(both(f.layerNorm, ops.layerNormReference)(x, g, b, 1e-5), w)), [x, g, b]); }, 1e-3, 1e-4);
  for (const causal of [false, true]) {
    await check(`fused attention causal=${causal} fwd+grad`, (m) => { const q = m.rand([2, 3, 17, 32]), k = m.rand([2, 3, 17, 32]), v = m.rand([2, 3, 17, 32]), w = m.rand([2, 3, 17, 32]); return vg((q, k, v) => tf.sum(tf.mul(both(f.attention, ops.attentionReference)(q, k, v, causal, 1 / Math.sqrt(32)), w)), [q, k, v]); }, 1e-3, 1e-4);
  }
  await check("fused gelu / quickGelu fwd+grad", (m) => { const x = m.rand([8, 33], -4, 4); return vg((x) => tf.add(tf.sum(both(f.gelu, ops.geluReference)(x)), tf.sum(both(f.quickGelu, ops.quickGeluReference)(x))), [x]); }, 1e-4, 1e-5);
  await check("fused linear fwd+grad", (m) => { const x = m.rand([3, 7, 40]), w = m.rand([24, 40]), b = m.rand([24]); return vg((x, w, b) => tf.sum(tf.square(both(f.linear, ops.linearReference)(x, w, b))), [x, w, b]); }, 1e-3, 1e-4);
  await check("fused softmaxCrossEntropy fwd+grad", (m) => { const z = m.rand([16, 16], -4, 4), y = m.int([16], 0, 16); return vg((z) => tf.mean(both(f.softmaxCrossEntropy, ops.softmaxCrossEntropyReference)(z, y)), [z]); }, 1e-4, 1e-5);
  await check("fused embedding fwd+grad", (m) => { const t = m.rand([50, 8]), i = m.int([4, 6], 0, 50); return vg((t) => tf.sum(tf.square(both(f.embedding, ops.embeddingReference)(t, i))), [t]); });
  // The whole residual block as one addon call each way (on by default on CUDA) vs the model's composition on cpu.
  const transformer = await import("../../dist/model/transformer.js").catch(() => null);
  if (transformer) {
    const W = 64, H = 4;
    const names = ["ln1w", "ln1b", "qkvW", "qkvB", "outW", "outB", "ln2w", "ln2b", "fcW", "fcB", "projW", "projB"];
    const shapes = [[W], [W], [3 * W, W], [3 * W], [W, W], [W], [W], [W], [4 * W, W], [4 * W], [W, 4 * W], [W]];
    const blockNames = { ln1: ["ln1w", "ln1b"], qkvW: "qkvW", qkvB: "qkvB", outW: "outW", outB: "outB", ln2: ["ln2w", "ln2b"], fcW: "fcW", fcB: "fcB", projW: "projW", projB: "projB" };
    for (const [causal, act] of [[false, "gelu"], [true, "quick_gelu"]]) {
      await check(`fused residual block causal=${causal} ${act} fwd+grad`, (m) => {
        const xs = [m.rand([2, 17, W]), ...shapes.map((s, i) => (i === 0 || i === 6 ? tf.add(1, m.rand(s, -0.2, 0.2)) : m.rand(s, -0.3, 0.3)))];
        const w = m.rand([2, 17, W]);
        return vg((x, ...ps) => {
          const y = tf.getBackend() === "torch"
            ? f.residualBlock(x, ps, H, causal, act, 1e-5)
            : transformer.residualBlock(x, new Map(names.map((n, i) => [n, ps[i]])), blockNames, H, causal, act, 1e-5);
          return tf.sum(tf.mul(y, w));
        }, xs);
      }, 1e-3, 1e-4);
    }
  }
} else console.log("SKIP fused-op checks: dist/model not built");

// Fused in-place AdamW vs the same update written as tfjs ops on cpu.
await check("fused AdamW (3 steps) vs tfjs ops", (m) => {
  const o = { lr: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 };
  const p = tf.variable(m.rand([64, 32])), mm = tf.variable(tf.zeros([64, 32])), vv = tf.variable(tf.zeros([64, 32]));
  for (let step = 1; step <= 3; step++) {
    const g = m.rand([64, 32]);
    if (tf.getBackend() === "torch") torch.torchAdamWUpdate([{ param: p, grad: g, expAvg: mm, expAvgSq: vv, weightDecay: o.weightDecay }], { ...o, step });
    else {
      mm.assign(tf.add(tf.mul(mm, o.beta1), tf.mul(g, 1 - o.beta1)));
      vv.assign(tf.add(tf.mul(vv, o.beta2), tf.mul(tf.square(g), 1 - o.beta2)));
      const denom = tf.add(tf.div(tf.sqrt(vv), Math.sqrt(1 - o.beta2 ** step)), o.eps);
      p.assign(tf.sub(tf.mul(p, 1 - o.lr * o.weightDecay), tf.mul(tf.div(mm, denom), o.lr / (1 - o.beta1 ** step))));
    }
  }
  const out = [tf.clone(p), tf.clone(mm), tf.clone(vv)];
  tf.dispose([p, mm, vv]);
  return out;
}, 1e-4, 1e-6);

// bf16 mode: matmuls in bfloat16 (8-bit mantissa) so a loose tolerance.
await check("bf16 mode matMul", (m) => tf.matMul(m.rand([64, 256]), m.rand([256, 32])), 2e-2, 5e-2,
  (on) => torch.registerTorchBackend({ device, bf16: on }));

// Micro CLIP training step (loss + every gradient) vs cpu.
if (modelMod && lossMod) {
  const base = modelMod.getModelConfig("micro");
  const cfg = { ...base, text: { ...base.text, vocabSize: 1000 } };
  const stepOn = async (backend) => {
    await tf.setBackend(backend);
    const model = modelMod.createModel(cfg, { seed: 5 });
    const m = new Inputs(3);
    const s = cfg.vision.imageSize, ctx = cfg.text.contextLength;
    const images = m.rand([4, s, s, 3]);
    const tokens = tf.tensor2d(Int32Array.from({ length: 4 * ctx }, (_, i) => (i % ctx === 5 ? 999 : 1 + (i * 37) % 990)), [4, ctx], "int32");
    const { value, grads } = tf.variableGrads(() => lossMod.modelLoss(model, images, tokens), [...model.params.values()]);
    const out = { loss: value.dataSync()[0], grads: new Map([...model.params].map(([n, p]) => [n, grads[p.name].dataSync()])) };
    tf.dispose([images, tokens, value, ...Object.values(grads)]);
    modelMod.disposeModel(model);
    return out;
  };
  const compare = (label, ref, got, lossTol, gradTol) => {
    let worst = 0, which = "";
    for (const [n, r] of ref.grads) {
      const g = got.grads.get(n);
      let scale = 0, err = 0;
      for (let i = 0; i < r.length; i++) { scale = Math.max(scale, Math.abs(r[i])); err = Math.max(err, Math.abs(g[i] - r[i])); }
      const rel = err / (gradTol * scale + 1e-7);
      if (rel > worst) { worst = rel; which = n; }
    }
    const ok = Math.abs(got.loss - ref.loss) < lossTol * Math.max(1, Math.abs(ref.loss)) && worst <= 1;
    if (!ok) failures++;
    console.log(`${ok ? "PASS" : "FAIL"} ${label}: loss ${got.loss} vs ${ref.loss}, worst grad ${which} err/tol ${worst.toFixed(3)}`);
  };
  const ref = await stepOn("cpu");
  compare("micro CLIP step", ref, await stepOn("torch"), 1e-4, 2e-3);
  // Autocast (bf16 activations; SDPA in bf16 on CUDA) against float32: bf16's
  // 8-bit mantissa over a few layers (measured on the CPU: loss 1e-3
  // relative, gradients up to ~5% of their scale).
  torch.registerTorchBackend({ device, bf16: true });
  compare("micro CLIP step, bf16 autocast vs fp32", ref, await stepOn("torch"), 2e-2, 0.15);
  torch.registerTorchBackend({ device, bf16: false });
} else console.log("SKIP training step: dist/model or dist/loss not built");

// Collectives on the device's tensors: a 1-rank group (one GPU here) over
// NCCL when the addon has it, else Gloo; checks the calls and the copies.
const distMod = await import("../../dist/backend/torch-dist.js").catch(() => null);
const { dist: distAddon } = distMod ? distMod.loadDistAddon() : { dist: null };
if (distAddon) {
  const backend = device.startsWith("cuda") && distAddon.distInfo().backends.includes("nccl") ? "nccl" : "gloo";
  try {
    distAddon.distInit(0, 1, "127.0.0.1", 29000 + Math.floor(Math.random() * 1000), 60000, "", "", backend);
    await tf.setBackend("torch");
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    const [avg] = distMod.allReduceTensors(distAddon, [x], 0.5);
    const all = distMod.allGatherTensor(distAddon, x);
    const ok = JSON.stringify(Array.from(avg.dataSync())) === "[0.5,1,1.5,2]" && JSON.stringify(all.shape) === "[2,2]" &&
      JSON.stringify(Array.from(all.dataSync())) === "[1,2,3,4]";
    if (!ok) failures++;
    console.log(`${ok ? "PASS" : "FAIL"} 1-rank ${backend} all-reduce / all-gather on ${device} tensors (${JSON.stringify(distAddon.distInfo())})`);
    tf.dispose([x, avg, all]);
    distAddon.distDestroy();
  } catch (e) {
    failures++;
    console.log(`FAIL 1-rank ${backend} collectives: ${e.message.split("\n")[0]}`);
  }
} else console.log("SKIP collectives: addon built without c10d");

console.log(`check: ${failures === 0 ? "all passed" : `${failures} failed`}`);
process.exitCode = failures === 0 ? 0 : 1;
