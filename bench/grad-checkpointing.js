// Benchmark: one training step (forward, backward, as src/train/step.ts
// computes gradients) of ViT-B/16 CLIP at a fixed micro-batch on the torch
// backend (CPU), plain vs train.grad_checkpointing. Each mode runs in its own
// child process so peak RSS is its own. Prints the addon's peak tensor bytes
// (every tensor it holds, once per storage), the process's peak RSS, and the
// step's wall and CPU time (user+sys; wall is unreliable on a shared machine),
// with the checkpointed/plain ratios.
// Run after `npm run build`:  node bench/grad-checkpointing.js [batch=4] [steps=2]
// (the first step is a warm-up; the last is reported)
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const batch = Number(process.argv[2] ?? 4);
const steps = Number(process.argv[3] ?? 2);

if (process.argv[4] === "--child") {
  const ckpt = process.argv[5] === "1";
  const tf = await import("@tensorflow/tfjs-core");
  const { setBackend } = await import("../dist/backend/index.js");
  const { torchNativeMemory } = await import("../dist/backend/torch.js");
  const { createModel } = await import("../dist/model/index.js");
  const { modelObjective } = await import("../dist/train/objective.js");
  const { computeGradients, splitBatch } = await import("../dist/train/step.js");
  await setBackend("torch");
  const model = createModel("ViT-B-16", { seed: 0, gradCheckpointing: ckpt });
  const c = model.config;
  const images = tf.randomNormal([batch, c.vision.imageSize, c.vision.imageSize, 3], 0, 1, "float32", 1);
  const tokens = tf.tensor2d(Int32Array.from({ length: batch * 77 }, (_, i) => (i % 77 === 20 ? 49407 : 1 + ((i * 131) % 40000))), [batch, 77], "int32");
  let last;
  for (let s = 0; s < steps; s++) {
    torchNativeMemory(true);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const { loss, grads } = computeGradients(model, splitBatch(images, tokens, 1), modelObjective);
    loss.dataSync();
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const peak = torchNativeMemory(true).peakBytes;
    tf.dispose([loss, ...grads.values()]);
    last = { wall, cpu: (cpu.user + cpu.system) / 1e6, peak };
  }
  // maxRSS is in KiB.
  console.log(JSON.stringify({ ...last, rss: process.resourceUsage().maxRSS * 1024 }));
  process.exit(0);
}

const here = fileURLToPath(import.meta.url);
const run = (ckpt) => {
  const r = spawnSync(process.execPath, [here, String(batch), String(steps), "--child", ckpt ? "1" : "0"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop());
};
const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const plain = run(false);
const ck = run(true);
console.log(`ViT-B/16, torch backend (cpu), micro-batch ${batch}, step ${steps} of ${steps}`);
console.log("mode      peak tensors  peak RSS   wall s   cpu s");
for (const [name, r] of [["plain", plain], ["ckpt", ck]]) {
  console.log(`${name.padEnd(9)} ${mib(r.peak).padStart(12)} ${mib(r.rss).padStart(9)} ${r.wall.toFixed(1).padStart(8)} ${r.cpu.toFixed(1).padStart(7)}`);
}
console.log(`ratio ckpt/plain: peak tensors ${(ck.peak / plain.peak).toFixed(3)}, peak RSS ${(ck.rss / plain.rss).toFixed(3)}, cpu time ${(ck.cpu / plain.cpu).toFixed(3)}, wall ${(ck.wall / plain.wall).toFixed(3)}`);
