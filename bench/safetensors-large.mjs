// A checkpoint over Node's 4 GiB Buffer limit, written and read back through
// clipts' safetensors I/O (tensor by tensor, file offsets): time and peak RSS
// of each side, in child processes so each peak is its own.
// Usage (after `npm run build`): node bench/safetensors-large.mjs [GiB=5.25] [dir=/tmp]
import { spawnSync } from "node:child_process";
import { rmSync, statSync } from "node:fs";
import path from "node:path";

const gib = Number(process.argv[2] ?? 5.25);
const file = path.join(process.argv[3] ?? "/tmp", "clipts-large.safetensors");
const role = process.env.CLIPTS_BENCH_ROLE;
const mod = await import("../dist/model/safetensors.js");
const TENSOR = 64 * 2 ** 20; // 64 Mi floats = 256 MiB per tensor, about a bigG MLP matrix x 4

if (role === "write") {
  const n = Math.round((gib * 2 ** 30) / (TENSOR * 4));
  const t0 = performance.now();
  // One buffer reused for every tensor (values differ per tensor in their first element).
  const data = new Float32Array(TENSOR).map((_, i) => (i % 1000) / 1000);
  await mod.writeSafetensors(file, Array.from({ length: n }, (_, i) => ({ name: `t${i}`, shape: [TENSOR], dtype: "F32", data: () => ((data[0] = i), data) })));
  console.log(JSON.stringify({ s: (performance.now() - t0) / 1000, tensors: n }));
} else if (role === "read") {
  const t0 = performance.now();
  const { tensors } = await mod.readSafetensors(file);
  let ok = true;
  for (const [name, t] of tensors) ok &&= t.data[0] === Number(name.slice(1)) && t.data[1001] === Math.fround(0.001) && t.data.length === TENSOR;
  console.log(JSON.stringify({ s: (performance.now() - t0) / 1000, tensors: tensors.size, ok }));
} else {
  const run = (r) => {
    const p = spawnSync("/usr/bin/time", ["-v", process.execPath, process.argv[1], String(gib), path.dirname(file)], { env: { ...process.env, CLIPTS_BENCH_ROLE: r }, encoding: "utf8" });
    if (p.status !== 0) throw new Error(p.stderr);
    const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(p.stderr)[1]) / 2 ** 20;
    const cpu = Number(/User time \(seconds\): ([\d.]+)/.exec(p.stderr)[1]) + Number(/System time \(seconds\): ([\d.]+)/.exec(p.stderr)[1]);
    return { ...JSON.parse(p.stdout.trim().split("\n").pop()), rss, cpu };
  };
  const w = run("write");
  const size = statSync(file).size / 2 ** 30;
  const r = run("read");
  rmSync(file);
  console.log(`safetensors ${size.toFixed(2)} GiB (${w.tensors} tensors of 256 MiB): write ${w.s.toFixed(1)} s wall / ${w.cpu.toFixed(1)} s CPU, peak RSS ${w.rss.toFixed(2)} GiB; read ${r.s.toFixed(1)} s wall / ${r.cpu.toFixed(1)} s CPU, peak RSS ${r.rss.toFixed(2)} GiB (${(r.rss / size).toFixed(2)}x the file: every tensor is kept); values ${r.ok ? "intact" : "WRONG"}`);
}
