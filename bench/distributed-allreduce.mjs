// Gradient averaging on loopback, 2 ranks, Gloo: a tensor the torch backend
// holds is averaged over ranks (a) through JS (toArray, distAllReduce on the
// Float32Array, scale, fromArray: what other backends do) and (b) in place
// (distAllReduceTensors: copy into one buffer, all-reduce, scale), vs
// PyTorch's torch.distributed (Debian python3-torch, same libtorch and gloo)
// doing all_reduce + div_ in place on a tensor (no copy; DDP copies grads
// into buckets as (b) does).
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
    const id = a.fromArray(new Float32Array(n).fill(r + 1), [n], 0)[0];
    const viaJs = () => {
      const x = a.toArray(id);
      a.distAllReduce(x);
      for (let i = 0; i < n; i++) x[i] *= 0.5;
      a.free(a.fromArray(x, [n], 0)[0]);
    };
    const inPlace = () => a.free(a.distAllReduceTensors([id], 0.5)[0][0]);
    const time = (f) => {
      f(); // warm-up
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) f();
      return (performance.now() - t0) / reps;
    };
    out[n] = { arrays: time(viaJs), tensors: time(inPlace) };
    a.free(id);
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
    for _ in range(${reps}):
        dist.all_reduce(x)
        x.div_(2)
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
  console.log("gradient average, 2 ranks, gloo over loopback, ms per call (mean of", reps, ")");
  console.log("floats     MiB     via JS  in place  torch.distributed  ratio (via JS, in place)");
  for (const n of sizes) {
    const { arrays, tensors } = ours[n], b = ref[n];
    console.log(`${String(n).padEnd(10)} ${(n * 4 / 2 ** 20).toFixed(2).padEnd(7)} ${arrays.toFixed(2).padStart(6)} ${tensors.toFixed(2).padStart(8)} ${b.toFixed(2).padStart(18)}  ${(arrays / b).toFixed(2)}, ${(tensors / b).toFixed(2)}`);
  }
}
