// Numerical parity with PyTorch: the tfjs model's parameters are loaded by
// name into the PyTorch open_clip-layout model of bench/model-step-ref.py
// (strict load_state_dict), and both compute image/text features, the CLIP
// loss and parameter gradients on the same inputs. Prints the largest
// relative differences per backend.
// Run after `npm run build`: node bench/model-parity.js [--config micro] [--batch 4]
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { setBackend } = await import(path.join(root, "dist/backend/index.js"));
const { createModel, disposeModel, getModelConfig } = await import(path.join(root, "dist/model/index.js"));
const { modelLoss } = await import(path.join(root, "dist/loss/index.js"));

const args = Object.fromEntries(process.argv.slice(2).join(" ").split("--").filter(Boolean).map((s) => s.trim().split(/\s+/)));
const config = getModelConfig(args.config ?? "micro");
const batch = Number(args.batch ?? 4);
const gradNames = ["visual.conv1.weight", "visual.class_embedding", "visual.transformer.resblocks.0.attn.in_proj_weight", "transformer.resblocks.0.attn.in_proj_weight", "transformer.resblocks.1.mlp.c_fc.weight", "token_embedding.weight", "positional_embedding", "text_projection", "logit_scale"];

const s = config.vision.imageSize, ctx = config.text.contextLength;
const images = Array.from({ length: batch * s * s * 3 }, (_, i) => Math.sin(i * 0.731) * 1.5);
const eot = Array.from({ length: batch }, (_, i) => 3 + ((i * 5) % (ctx - 3)));
const tokens = Array.from({ length: batch * ctx }, (_, i) => (i % ctx === eot[Math.floor(i / ctx)] ? 49407 : 1 + ((i * 7919) % 4000)));

function relErr(a, b) {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num = Math.max(num, Math.abs(a[i] - b[i])); den = Math.max(den, Math.abs(b[i])); }
  return num / (den || 1);
}

const work = mkdtempSync(path.join(os.tmpdir(), "clipts-parity-"));
let ref;
for (const be of ["cpu", "wasm"]) {
  await setBackend(be);
  const m = createModel(config, { seed: 0 });
  if (!ref) {
    // Parameters in a float32 blob + index for the PyTorch side.
    const index = [];
    const parts = [];
    let offset = 0;
    for (const [name, v] of m.params) {
      const d = v.dataSync();
      index.push({ name, shape: v.shape, offset });
      parts.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      offset += d.byteLength;
    }
    const blob = path.join(work, "params.bin");
    writeFileSync(blob, Buffer.concat(parts));
    const job = { mode: "parity", config, batch, threads: 1, params: blob, index, images, tokens, gradNames };
    const r = spawnSync("/usr/bin/python3", [path.join(root, "bench/model-step-ref.py")], { input: JSON.stringify(job), encoding: "utf8", maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`PyTorch side failed: ${r.stderr}`);
    ref = JSON.parse(r.stdout);
  }
  const img = tf.tensor4d(images, [batch, s, s, 3]);
  const tok = tf.tensor2d(tokens, [batch, ctx], "int32");
  const fi = m.encodeImage(img).dataSync();
  const ft = m.encodeText(tok).dataSync();
  const vars = gradNames.map((n) => m.params.get(n));
  const { value, grads } = tf.variableGrads(() => modelLoss(m, img, tok), vars);
  console.log(`tfjs ${be} vs PyTorch (config ${config.name}, batch ${batch}, strict state-dict load): max |Δ| / max |ref|`);
  console.log(`  image features ${relErr(fi, ref.image).toExponential(2)}   text features ${relErr(ft, ref.text).toExponential(2)}   loss ${value.dataSync()[0].toFixed(6)} vs ${ref.loss.toFixed(6)}`);
  for (const [i, n] of gradNames.entries()) console.log(`  grad ${n.padEnd(52)} ${relErr(grads[vars[i].name].dataSync(), ref.grads[n]).toExponential(2)}`);
  disposeModel(m);
}
rmSync(work, { recursive: true, force: true });
