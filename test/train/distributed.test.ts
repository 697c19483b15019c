// Data-parallel training over c10d/Gloo on loopback: a 2-process run (each
// rank reads half of every global batch, features all-gathered with
// gradient, each rank's loss over its own rows against all gathered features
// (local loss), gradients averaged) must log the same per-step losses and end
// with the same weights as a 1-process run over the same global batches.
// With no row shuffle buffer (data.shuffle_buffer: 0), the 2-process global
// batch holds exactly the rows of the 1-process batch (rank r reads stream
// rows c = r mod 2), only de-interleaved, which the contrastive loss does not see.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { loadDistAddon } from "../../src/backend/torch-dist.js";
import { loadCheckpoint, resolveCheckpoint } from "../../src/model/checkpoint.js";
import { validateConfig } from "../../src/train/config.js";
import type { LoaderState } from "../../src/data/loader.js";
import { freePort, launch } from "../../src/train/distributed-launch.js";
import { collectiveBackend, distEnvFromProcess, localBatchSize, rankDevice } from "../../src/train/distributed.js";
import { colorShards, writeConfig } from "./fixtures.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// The CLI from source through tsx, so the test needs no prior build.
const node = [process.execPath, "--import", "tsx", path.join(root, "src/cli/main.ts")];
const env = { ...process.env, CLIPTS_QUIET: "1", OMP_NUM_THREADS: "1", CLIPTS_DIST_TIMEOUT_S: "60" };
const { dist, reason } = loadDistAddon();
const hasTorchrun = spawnSync("/usr/bin/python3", ["-c", "import torch.distributed.run"], { stdio: "ignore" }).status === 0;

// The port freePort() found free can be taken by another process before the
// ranks bind it (two test files run at once); such a run is tried again.
const PORT_TAKEN = /EADDRINUSE|address already in use|socket has failed to (listen|bind)/i;

/** Run `clipts <args>` as 2 ranks; the exit code and each rank's stderr. */
async function launch2(args: string[]): Promise<{ code: number; stderr: string[] }> {
  for (let attempt = 1; ; attempt++) {
    const stderr = ["", ""];
    const code = await launch({
      nprocPerNode: 2,
      command: node,
      args,
      env,
      stdio: "pipe",
      onSpawn: (rank, child) => child.stderr!.on("data", (d) => (stderr[rank] += d)),
    });
    if (code === 0 || attempt === 3 || !stderr.some((e) => PORT_TAKEN.test(e))) return { code, stderr };
  }
}

/** Elements of two float arrays that are not bit-for-bit equal (toEqual is slow on a million floats). */
function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

function losses(jsonl: string): number[] {
  return readFileSync(jsonl, "utf8")
    .split("\n")
    .filter((l) => l.endsWith("}"))
    .map((l) => (JSON.parse(l) as { loss: number }).loss);
}

describe("distributed environment", () => {
  it("reads torchrun's variables and rejects bad ones", () => {
    expect(distEnvFromProcess({})).toBeNull();
    expect(distEnvFromProcess({ WORLD_SIZE: "1", RANK: "0" })).toBeNull();
    expect(distEnvFromProcess({ WORLD_SIZE: "4", RANK: "2", LOCAL_RANK: "0", MASTER_ADDR: "10.0.0.1", MASTER_PORT: "1234" })).toEqual({
      rank: 2, worldSize: 4, localRank: 0, masterAddr: "10.0.0.1", masterPort: 1234, timeoutMs: 1_800_000,
    });
    expect(() => distEnvFromProcess({ WORLD_SIZE: "2", RANK: "2" })).toThrow(/RANK=2 must be below WORLD_SIZE=2/);
    expect(() => distEnvFromProcess({ WORLD_SIZE: "2" })).toThrow(/RANK=\(unset\)/);
    expect(distEnvFromProcess({ WORLD_SIZE: "2", RANK: "1", TORCHELASTIC_USE_AGENT_STORE: "True", TORCHELASTIC_RESTART_COUNT: "3" })?.storePrefix).toBe("/worker/attempt_3");
    expect(localBatchSize(16, 2, 2)).toBe(8);
    expect(() => localBatchSize(6, 2, 2)).toThrow(/data.batch_size \(6/);
  });

  it("puts each rank on its own GPU and picks NCCL for CUDA tensors only when compiled in", () => {
    const e = distEnvFromProcess({ WORLD_SIZE: "4", RANK: "3", LOCAL_RANK: "1" });
    expect(rankDevice("cuda:0", e, {})).toBe("cuda:1");
    expect(rankDevice("cuda:0", e, { CUDA_VISIBLE_DEVICES: "0,1" })).toBe("cuda:1");
    expect(rankDevice("cuda:0", e, { CUDA_VISIBLE_DEVICES: "3" })).toBe("cuda:0"); // one GPU per rank
    expect(rankDevice("cpu", e, {})).toBe("cpu");
    expect(rankDevice(null, e, {})).toBeNull();
    expect(rankDevice("cuda:2", null, {})).toBe("cuda:2"); // one process: the config's GPU
    expect(collectiveBackend("cuda:1", ["gloo", "nccl"])).toBe("nccl");
    expect(collectiveBackend("cuda:1", ["gloo"])).toBe("gloo");
    expect(collectiveBackend("cpu", ["gloo", "nccl"])).toBe("gloo");
    // This machine's addon: Gloo always; NCCL only in CUDA builds.
    if (dist) expect(dist.distInfo().backends[0]).toBe("gloo");
  });

  it("data.shuffle_buffer is an optional non-negative integer", () => {
    const base = { model: { name: "micro" }, data: { train: "d", batch_size: 8 }, train: { steps: 1, lr: 1 }, checkpoint: { dir: "c" } };
    expect(validateConfig(base).data.shuffle_buffer).toBeUndefined();
    expect(validateConfig({ ...base, data: { ...base.data, shuffle_buffer: 0 } }).data.shuffle_buffer).toBe(0);
    expect(() => validateConfig({ ...base, data: { ...base.data, shuffle_buffer: -1 } })).toThrow(/data\.shuffle_buffer/);
    expect(() => validateConfig({ ...base, data: { ...base.data, shuffle_buffer: 2.5 } })).toThrow(/data\.shuffle_buffer/);
  });
});

describe.skipIf(!dist)(`data-parallel training (c10d gloo)${dist ? "" : `: skipped, ${reason}`}`, () => {
  let shards: string;
  beforeAll(async () => {
    shards = await colorShards(16, 8);
  });

  /**
   * Two copies of a 3-step config (16 rows, global batch 8: steps 1-2 are
   * epoch 1, step 3 starts epoch 2, a new shard order); the first is trained
   * here in 1 process, the second is left for a multi-process launch.
   */
  function oneProcessRun(loss: "clip" | "siglip", accum: number, backend = "torch", logEvery = 1, sigLipChunk: number | null = null, zero: 0 | 1 = 0): { cfg2: string; dir1: string; dir2: string } {
    const patch = {
      model: { loss },
      data: { batch_size: 8, shuffle_buffer: 0 },
      train: { steps: 3, lr: 5e-3, warmup: 1, backend, ...(backend === "torch" ? { device: "cpu" } : {}), accum_freq: accum, siglip_chunk: sigLipChunk, zero_stage: zero },
      checkpoint: { every: 0, keep: 0 },
      log: { tensorboard: null, every: logEvery },
    };
    const [cfg1, dir1] = writeConfig(shards, patch);
    const [cfg2, dir2] = writeConfig(shards, patch);
    const one = spawnSync(node[0]!, [...node.slice(1), "train", cfg1, "--quiet"], { cwd: root, env, encoding: "utf8" });
    expect(one.status, one.stderr).toBe(0);
    return { cfg2, dir1, dir2 };
  }

  // accum_freq 2: the full-batch loss still spans all ranks' micro-batches (1 process: 2 x 4 rows; 2 processes: 2 x 2 per rank).
  // The torch backend's collectives run on its tensors in place; wasm's go
  // through host arrays (as cpu's and tensorflow's do).
  // log.every 2: only rank 0 logs, yet every rank must read its pending
  // losses at the same steps (logged at steps 2 and 3, the last).
  it.each([
    ["clip", 1, "torch", 1],
    ["clip", 2, "torch", 1],
    ["siglip", 1, "torch", 2],
    ["clip", 1, "wasm", 1],
    // Blocks of 3 texts: uneven blocks that straddle the ranks' rows (each rank's 4 images against all 8 texts).
    ["siglip", 1, "torch", 1, 3],
    // ZeRO-1: each rank updates half the parameters (device all-gather on torch, host arrays on wasm).
    ["clip", 1, "torch", 1, null, 1],
    ["clip", 1, "wasm", 1, null, 1],
  ] as const)("2 processes give the losses and weights of 1 process over the same global batch (%s loss, accum_freq %i, %s backend, log.every %i, siglip_chunk %s, zero_stage %s)", async (loss, accum, backend, logEvery, chunk = null, zero = 0) => {
    const { cfg2, dir1, dir2 } = oneProcessRun(loss, accum, backend, logEvery, chunk, zero);
    const { code, stderr } = await launch2(["train", cfg2, "--quiet"]);
    expect(code, stderr.join("\n")).toBe(0);
    expect(stderr[0]).toContain("done at step 3");
    expect(stderr[1]).toContain("done at step 3");

    const want = losses(path.join(dir1, "ckpt", "log.jsonl"));
    const got = losses(path.join(dir2, "ckpt", "log.jsonl"));
    const logged = logEvery === 1 ? 3 : 2;
    expect(want).toHaveLength(logged);
    // Only rank 0 logs.
    expect(got).toHaveLength(logged);
    for (let i = 0; i < logged; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5 * Math.abs(want[i]!));
    // The steps moved the loss: equal losses are not equal initial losses only.
    expect(Math.abs(want[logged - 1]! - want[0]!)).toBeGreaterThan(1e-3);

    const a = await loadCheckpoint(resolveCheckpoint("latest", path.join(dir1, "ckpt")));
    const b = await loadCheckpoint(resolveCheckpoint("latest", path.join(dir2, "ckpt")));
    expect(b.step).toBe(3);
    expect([...b.weights.keys()].sort()).toEqual([...a.weights.keys()].sort());
    // AdamW's first steps move a weight by ~lr * sign(gradient), so a weight
    // whose gradient is pure float noise (e.g. attention key biases, whose
    // exact gradient is 0) can differ by up to ~lr between two correct runs.
    // So compare the whole weight vector (relative L2) and count the outliers.
    let sq = 0;
    let diffSq = 0;
    let outliers = 0;
    let total = 0;
    for (const [name, ta] of a.weights) {
      const x = ta.data, y = b.weights.get(name)!.data;
      for (let i = 0; i < x.length; i++) {
        const d = Math.abs(x[i]! - y[i]!);
        sq += x[i]! ** 2;
        diffSq += d * d;
        if (d > 1e-5) outliers++;
        total++;
      }
    }
    // Measured: relative L2 7.6e-6, 58 of 1.64M weights off by more than 1e-5.
    expect(Math.sqrt(diffSq / sq)).toBeLessThan(1e-4);
    expect(outliers / total).toBeLessThan(1e-3);
    expect(existsSync(path.join(dir2, "ckpt", "latest"))).toBe(true);
    // The checkpoint holds the full optimizer state (with ZeRO-1 gathered from both ranks at save time).
    expect(b.optimizerStep).toBe(3);
    for (const m of ["expAvg", "expAvgSq"] as const) {
      expect([...b[m].keys()].sort()).toEqual([...a[m].keys()].sort());
      let s2 = 0, d2 = 0;
      for (const [name, ta] of a[m]) {
        const x = ta.data, y = b[m].get(name)!.data;
        for (let i = 0; i < x.length; i++) {
          s2 += x[i]! ** 2;
          d2 += (x[i]! - y[i]!) ** 2;
        }
      }
      expect(Math.sqrt(d2 / s2), m).toBeLessThan(1e-4);
    }
  }, 120_000);

  // torchrun itself, not clipts launch: its elastic agent serves the TCPStore
  // (TORCHELASTIC_USE_AGENT_STORE) and the ranks join it under the agent's
  // key prefix. Debian's torchrun needs a one-line fix to run on Python 3.11
  // (test/train/torchrun-py311.py); skipped where python3 has no torch.
  it.skipIf(!hasTorchrun)("`torchrun --no-python --nproc-per-node 2 clipts train` gives the 1-process losses", async () => {
    const { cfg2, dir1, dir2 } = oneProcessRun("clip", 1);
    let two: SpawnSyncReturns<string>;
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const torchrun = [path.join(root, "test/train/torchrun-py311.py"), "--no_python", "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", String(port)];
      two = spawnSync("/usr/bin/python3", [...torchrun, ...node, "train", cfg2, "--quiet"], { cwd: root, env, encoding: "utf8", timeout: 120_000 });
      if (two.status === 0 || attempt === 3 || !PORT_TAKEN.test(two.stderr)) break;
    }
    expect(two.status, two.stderr).toBe(0);
    const want = losses(path.join(dir1, "ckpt", "log.jsonl"));
    const got = losses(path.join(dir2, "ckpt", "log.jsonl"));
    expect(got).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5 * Math.abs(want[i]!));
  }, 120_000);

  it("an interrupt of one rank stops every rank at the same step, with rank 0's checkpoint", async () => {
    const [cfg, dir] = writeConfig(shards, {
      data: { batch_size: 8 },
      train: { steps: 500, lr: 1e-3, backend: "torch", device: "cpu" },
      checkpoint: { every: 0, keep: 0 },
      log: { tensorboard: null },
    });
    const jsonl = path.join(dir, "ckpt", "log.jsonl");
    const stderr: string[] = ["", ""];
    const code = await launch({
      nprocPerNode: 2,
      command: node,
      args: ["train", cfg, "--quiet"],
      env,
      stdio: "pipe",
      onSpawn: (rank, child) => {
        child.stderr!.on("data", (d) => (stderr[rank] += d));
        if (rank !== 1) return;
        // SIGINT to rank 1 only: rank 0 learns of it through the per-step agreement.
        const timer = setInterval(() => {
          if (existsSync(jsonl) && losses(jsonl).length >= 2) {
            child.kill("SIGINT");
            clearInterval(timer);
          }
        }, 20);
        child.once("exit", () => clearInterval(timer));
      },
    });
    // train exits 130 after an interrupt; launch reports the first non-zero exit.
    expect(code, stderr.join("\n")).toBe(130);
    const steps = stderr.map((e) => /interrupted at step (\d+)/.exec(e)?.[1]);
    expect(steps[0], stderr.join("\n")).toBeDefined();
    expect(steps[1]).toBe(steps[0]);
    const ck = await loadCheckpoint(resolveCheckpoint("latest", path.join(dir, "ckpt")));
    expect(String(ck.step)).toBe(steps[0]);
    // Saved on the stop agreement: every rank's loader state, each after the checkpoint's step.
    expect(ck.state.worldSize).toBe(2);
    const states = ck.state.loaderStates as LoaderState[];
    expect(states.map((s) => [s.fingerprint.rank, s.stats.batches])).toEqual([[0, ck.step], [1, ck.step]]);
    expect(ck.state.loader).toEqual(states[0]);
  }, 120_000);

  // A fresh 2-process launch resumed from the step-3 checkpoint of an
  // uninterrupted 6-step run must log that run's losses for steps 4-6 and end
  // with its weights and loader states. Row 5 is a corrupt image, always read
  // by rank 1 (rank r reads rows c = r mod 2 of each epoch, shards of 8 rows
  // keep the parity), so the ranks' stream positions differ: a rank resuming
  // from another rank's position reads other rows. The default shuffle buffer
  // adds its RNG to each rank's state.
  describe("resume", () => {
    const patch = {
      data: { batch_size: 8 },
      train: { steps: 6, lr: 5e-3, warmup: 1, backend: "torch", device: "cpu" },
      checkpoint: { every: 3, keep: 0 },
      log: { tensorboard: null },
    };
    let data: string;
    let refDir: string;
    let step3: string;
    beforeAll(async () => {
      data = await colorShards(16, 8, 24, [5]);
      let cfg: string;
      [cfg, refDir] = writeConfig(data, patch);
      const ref = await launch2(["train", cfg, "--quiet"]);
      expect(ref.code, ref.stderr.join("\n")).toBe(0);
      step3 = path.join(refDir, "ckpt", "step-00000003.safetensors");
    }, 120_000);

    it("a resumed 2-process run continues exactly, each rank from its own loader state", async () => {
      const [cfg, dir] = writeConfig(data, patch);
      const run = await launch2(["train", cfg, "--quiet", "--resume", step3]);
      expect(run.code, run.stderr.join("\n")).toBe(0);
      expect(run.stderr[0]).toContain("done at step 6");
      expect(run.stderr[1]).toContain("done at step 6");

      const want = losses(path.join(refDir, "ckpt", "log.jsonl"));
      const got = losses(path.join(dir, "ckpt", "log.jsonl"));
      expect(want).toHaveLength(6);
      // Same ranks, same kernels, same rows in the same order: bit-identical.
      expect(got).toEqual(want.slice(3));

      const a = await loadCheckpoint(resolveCheckpoint("latest", path.join(refDir, "ckpt")));
      const b = await loadCheckpoint(resolveCheckpoint("latest", path.join(dir, "ckpt")));
      expect(b.step).toBe(6);
      expect([...b.weights.keys()].sort()).toEqual([...a.weights.keys()].sort());
      for (const [name, t] of a.weights) expect(mismatches(t.data, b.weights.get(name)!.data), name).toBe(0);
      for (const [name, t] of a.expAvgSq) expect(mismatches(t.data, b.expAvgSq.get(name)!.data), `exp_avg_sq ${name}`).toBe(0);
      const states = b.state.loaderStates as LoaderState[];
      expect(states).toEqual(a.state.loaderStates);
      // Rank 1 alone meets the corrupt row, once in each of the 4 epochs its
      // 24 good rows (7 per epoch) reach into with this seed, so it has read
      // 4 rows more than rank 0 (the states hold the first snapshot + rows read).
      expect(states.map((s) => s.stats.skipped)).toEqual([0, 4]);
      expect(states.map((s) => s.skip)).toEqual([24, 28]);
    }, 120_000);

    it("with ZeRO-1 (train.zero_stage 1) a resumed run continues exactly: each rank re-takes its share of the full saved moments", async () => {
      const zpatch = { ...patch, train: { ...patch.train, zero_stage: 1 } };
      const [refCfg, zref] = writeConfig(data, zpatch);
      const ref = await launch2(["train", refCfg, "--quiet"]);
      expect(ref.code, ref.stderr.join("\n")).toBe(0);
      const [cfg, dir] = writeConfig(data, zpatch);
      const run = await launch2(["train", cfg, "--quiet", "--resume", path.join(zref, "ckpt", "step-00000003.safetensors")]);
      expect(run.code, run.stderr.join("\n")).toBe(0);
      const want = losses(path.join(zref, "ckpt", "log.jsonl"));
      expect(want).toHaveLength(6);
      expect(losses(path.join(dir, "ckpt", "log.jsonl"))).toEqual(want.slice(3));
      const a = await loadCheckpoint(resolveCheckpoint("latest", path.join(zref, "ckpt")));
      const b = await loadCheckpoint(resolveCheckpoint("latest", path.join(dir, "ckpt")));
      for (const [name, t] of a.weights) expect(mismatches(t.data, b.weights.get(name)!.data), name).toBe(0);
      for (const [name, t] of a.expAvg) expect(mismatches(t.data, b.expAvg.get(name)!.data), `exp_avg ${name}`).toBe(0);
      // The full state: as many moments as weights, none left at zero by a missing share.
      expect(b.expAvgSq.size).toBe(b.weights.size);
      for (const [name, t] of b.expAvgSq) expect(t.data.some((v) => v !== 0), `exp_avg_sq ${name}`).toBe(true);
    }, 180_000);

    it("resuming with another world size fails before any work, naming the checkpoint and both sizes", () => {
      const [cfg, dir] = writeConfig(data, patch);
      const one = spawnSync(node[0]!, [...node.slice(1), "train", cfg, "--quiet", "--resume", step3], { cwd: root, env, encoding: "utf8" });
      expect(one.status, one.stderr).toBe(2);
      expect(one.stderr).toContain(`--resume ${step3}: the checkpoint was written with WORLD_SIZE=2, this run has WORLD_SIZE=1`);
      expect(existsSync(path.join(dir, "ckpt"))).toBe(false);
    }, 60_000);
  });

  it("launch exits with the first failing rank's code", async () => {
    const code = await launch({ nprocPerNode: 2, command: node, args: ["train", path.join(shards, "no-such.yaml")], env, stdio: "ignore" });
    expect(code).toBe(2);
  }, 60_000);
});
