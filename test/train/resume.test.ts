// Exact resume after SIGKILL: a child `clipts train` process is killed mid-run,
// resumed with --resume latest, and must log the same losses, step for step,
// as an uninterrupted run (cpu backend, deterministic kernels).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
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
    // The child kills itself once step 5 is done (the checkpoint at 3 exists, later steps are lost).
    const killed = spawnSync(process.execPath, [...cli, cfg, "--quiet"], {
      cwd: root, env: { ...env, CLIPTS_TEST_SIGNAL: "5:SIGKILL" }, encoding: "utf8",
    });
    expect(killed.signal, killed.stderr).toBe("SIGKILL");
    expect(readFileSync(path.join(dir, "ckpt", "latest"), "utf8").trim()).toBe("step-00000003.safetensors");
    expect(losses(jsonl).has(6)).toBe(false);

    const resumed = spawnSync(process.execPath, [...cli, cfg, "--quiet", "--resume", "latest"], { cwd: root, env, encoding: "utf8" });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain("done at step 9");
    const got = losses(jsonl);
    expect([...got.entries()]).toEqual([...want.entries()]);
  });

  it("SIGINT stops cleanly with a checkpoint", () => {
    const [cfg, dir] = writeConfig(shards, { train: { steps: 500, lr: 3e-3 }, checkpoint: { every: 0, keep: 0 }, log: { tensorboard: null } });
    // The child sends itself SIGINT once step 2 is done; the handler stops the run after the step in flight.
    const child = spawnSync(process.execPath, [...cli, cfg, "--quiet"], {
      cwd: root, env: { ...env, CLIPTS_TEST_SIGNAL: "2:SIGINT" }, encoding: "utf8",
    });
    expect(child.status, child.stderr).toBe(130);
    const step = Number(/interrupted at step (\d+)/.exec(child.stderr)?.[1]);
    expect(step).toBeGreaterThanOrEqual(2);
    expect(step).toBeLessThan(500);
    expect(readFileSync(path.join(dir, "ckpt", "latest"), "utf8").trim()).toBe(`step-${String(step).padStart(8, "0")}.safetensors`);
  });
});
