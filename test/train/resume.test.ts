// Exact resume after SIGKILL: a child `clipts train` process is killed mid-run,
// resumed with --resume latest, and must log the same losses, step for step,
// as an uninterrupted run (cpu backend, deterministic kernels).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { colorShards, writeConfig } from "./fixtures.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// The CLI from source through tsx, so the test needs no prior build.
const cli = ["--import", "tsx", path.join(root, "src/cli/main.ts"), "train"];
const env = { ...process.env, CLIPTS_QUIET: "1" };

function losses(jsonl: string): Map<number, number> {
  const out = new Map<number, number>();
  // A resumed run re-logs the steps after the checkpoint; the later line wins.
  for (const l of readFileSync(jsonl, "utf8").split("\n")) {
    if (!l.endsWith("}")) continue; // empty, or a line the child is still writing
    const { step, loss } = JSON.parse(l) as { step: number; loss: number };
    out.set(step, loss);
  }
  return out;
}

let shards: string;
beforeAll(async () => {
  shards = await colorShards(16, 8);
});

describe("resume", () => {
  it("continues exactly after SIGKILL", async () => {
    const patch = { train: { steps: 9, lr: 3e-3 }, checkpoint: { every: 3, keep: 0 }, log: { tensorboard: null } };
    const [refCfg, refDir] = writeConfig(shards, patch);
    const ref = spawnSync(process.execPath, [...cli, refCfg, "--quiet"], { cwd: root, env, encoding: "utf8" });
    expect(ref.status, ref.stderr).toBe(0);
    const want = losses(path.join(refDir, "ckpt", "log.jsonl"));
    expect([...want.keys()]).toEqual(Array.from({ length: 9 }, (_, i) => i + 1));

    const [cfg, dir] = writeConfig(shards, patch);
    const jsonl = path.join(dir, "ckpt", "log.jsonl");
    // Kill the child as soon as it has logged step 5 (the checkpoint at 3 exists, later steps are lost).
    const child = spawn(process.execPath, [...cli, cfg, "--quiet"], { cwd: root, env, stdio: "ignore" });
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(jsonl) && losses(jsonl).has(5)) {
          child.kill("SIGKILL");
          clearInterval(timer);
        }
      }, 20);
      child.on("exit", (code, signal) => {
        clearInterval(timer);
        if (signal === "SIGKILL") resolve();
        else reject(new Error(`child exited with ${code} before it was killed`));
      });
    });
    expect(readFileSync(path.join(dir, "ckpt", "latest"), "utf8").trim()).toMatch(/^step-0000000[3-8]\.safetensors$/);
    expect(losses(jsonl).has(9)).toBe(false);

    const resumed = spawnSync(process.execPath, [...cli, cfg, "--quiet", "--resume", "latest"], { cwd: root, env, encoding: "utf8" });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain("done at step 9");
    const got = losses(jsonl);
    expect([...got.entries()]).toEqual([...want.entries()]);
  });

  it("SIGINT stops cleanly with a checkpoint", async () => {
    const [cfg, dir] = writeConfig(shards, { train: { steps: 500, lr: 3e-3 }, checkpoint: { every: 0, keep: 0 }, log: { tensorboard: null } });
    const jsonl = path.join(dir, "ckpt", "log.jsonl");
    const child = spawn(process.execPath, [...cli, cfg, "--quiet"], { cwd: root, env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setInterval(() => {
        if (existsSync(jsonl) && losses(jsonl).has(2)) {
          child.kill("SIGINT");
          clearInterval(timer);
        }
      }, 20);
      child.on("exit", (c) => {
        clearInterval(timer);
        resolve(c);
      });
    });
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted at step (\d+)/);
    const step = Number(/interrupted at step (\d+)/.exec(stderr)![1]);
    expect(readFileSync(path.join(dir, "ckpt", "latest"), "utf8").trim()).toBe(`step-${String(step).padStart(8, "0")}.safetensors`);
  });
});
