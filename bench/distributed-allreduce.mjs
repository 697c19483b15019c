// Gloo all-reduce on loopback, 2 ranks: clipts' addon (native/dist.cc, over
// Float32Arrays, as the trainer averages gradients) vs PyTorch's own
// torch.distributed (Debian python3-torch, same libtorch and gloo), same sizes.
// Usage: node bench/distributed-allreduce.mjs  (needs the addon built with c10d)
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sizes = [1 << 16, 1 << 20, 1 << 23]; // floats: 256 KiB, 4 MiB, 32 MiB
const reps = 10;

function rank() {
  const a = createRequire(import.meta.url)(path.join(root, "native/build/Release/clipts_torch.node"));
  const r = Number(process.env.RANK);
  a.distInit(r, 2, "127.0.0.1", Number(process.env.MASTER_PORT), 60000, "", "");
  const out = {};
  for (const n of sizes) {
    const x = new Float32Array(n).fill(r + 1);
    a.distAllReduce(x); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) a.distAllReduce(x);
    out[n] = (performance.now() - t0) / reps;
  }
  a.distDestroy();
  if (r === 0) console.log(JSON.stringify(out));
}

const py = `
import os, time, json, torch, torch.distributed as dist
dist.init_process_group("gloo", rank=int(os.environ["RANK"]), world_size=2)
out = {}
for n in ${JSON.stringify(sizes)}:
    x = torch.full((n,), float(dist.get_rank() + 1))
    dist.all_reduce(x)
    t0 = time.perf_counter()
    for _ in range(${reps}): dist.all_reduce(x)
    out[n] = (time.perf_counter() - t0) / ${reps} * 1000
if dist.get_rank() == 0: print(json.dumps(out))
`;

function run(cmd, args, port) {
  return Promise.all([0, 1].map((r) => new Promise((resolve, reject) => {
    const env = { ...process.env, RANK: String(r), WORLD_SIZE: "2", MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port) };
    const c = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    let s = "";
    c.stdout.on("data", (d) => (s += d));
    c.on("exit", (code) => (code === 0 ? resolve(s) : reject(new Error(`${cmd} rank ${r} exited ${code}`))));
  }))).then((outs) => JSON.parse(outs.join("").trim()));
}

if (process.env.RANK !== undefined) rank();
else {
  const ours = await run(process.execPath, [fileURLToPath(import.meta.url)], 29861);
  const ref = await run("/usr/bin/python3", ["-c", py], 29862);
  console.log("all-reduce (sum), 2 ranks, gloo over loopback, ms per call (mean of", reps, ")");
  console.log("floats     MiB     clipts addon   torch.distributed   ratio");
  for (const n of sizes) {
    const a = ours[n], b = ref[n];
    console.log(`${String(n).padEnd(10)} ${(n * 4 / 2 ** 20).toFixed(2).padEnd(7)} ${a.toFixed(2).padStart(12)} ${b.toFixed(2).padStart(19)}   ${(a / b).toFixed(2)}`);
  }
}
