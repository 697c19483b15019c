// `npm run bench`: every benchmark in turn, each printing clipts and its
// reference side by side. Needs `npm run build` first, ../shared/data for the
// real datasets, and Debian's python3-torch, python3-torchvision,
// python3-ahocorasick and wordnet-base for the references.
// Usage: node bench/run-all.js [name ...]   (default: all)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const BENCHES = {
  "curation-match": ["bench/curation-match.js"],
  tokenizer: ["bench/tokenizer.mjs", "100000"],
  ingest: ["bench/ingest.js"],
  loader: ["bench/loader.mjs"],
  // A check, not a timing: the addon's transforms of the loader's images vs PIL, byte for byte.
  "pil-exact": ["bench/pil-exact.mjs"],
  "train-step": ["bench/train-step.js"],
  "torch-step": ["bench/torch-step.js", "--batch", "32", "--steps", "3", "--warmup", "1"],
  "host-overhead": ["bench/host-overhead.js", "--models", "tiny,ViT-B-16", "--steps", "3"],
  eval: ["bench/eval-throughput.mjs", "10", "tiny", "wasm,torch", "2"],
  langid: ["bench/langid.mjs"],
  "distributed-allreduce": ["bench/distributed-allreduce.mjs"],
  "grad-checkpointing": ["bench/grad-checkpointing.js", "4", "2"],
  // Peak RSS and CPU per row of the streaming curation stages at two pool sizes 10x apart.
  "pool-scale": ["bench/pool-scale.mjs", "200000", "2000000"],
};

const wanted = process.argv.slice(2);
for (const w of wanted) if (!(w in BENCHES)) throw new Error(`unknown benchmark "${w}"; choose from ${Object.keys(BENCHES).join(", ")}`);
if (!existsSync("dist/index.js")) throw new Error("run `npm run build` first");

const failed = [];
for (const [name, args] of Object.entries(BENCHES)) {
  if (wanted.length && !wanted.includes(name)) continue;
  console.log(`\n=== ${name}: node ${args.join(" ")}`);
  // One BLAS thread on each side: both are measured per core.
  const r = spawnSync(process.execPath, args, { stdio: "inherit", env: { OPENBLAS_NUM_THREADS: "1", ...process.env } });
  if (r.status !== 0) failed.push(name);
}
if (failed.length) {
  console.error(`\nbenchmarks that failed: ${failed.join(", ")}`);
  process.exit(1);
}
