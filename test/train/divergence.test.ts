// The divergence guard judges the update, not only finiteness: lr 1e30 gives
// finite weights of ~1e29 that must never be saved, move `latest`, or cause
// the last good checkpoint to be pruned.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadConfig } from "../../src/train/config.js";
import { runTraining } from "../../src/train/run.js";
import { colorShards, writeConfig } from "./fixtures.js";

let shards: string;
beforeAll(async () => {
  shards = await colorShards(16, 8);
});

describe("divergence guard", () => {
  it("lr 1e30 with keep 1: the exploded step is not saved, latest and the last good checkpoint stay", async () => {
    const [file, dir] = writeConfig(shards, { train: { steps: 4, lr: 1e-3, warmup: 0, schedule: "const" }, checkpoint: { every: 1, keep: 1 } });
    const good = await runTraining(loadConfig(file), { quiet: true });
    expect(good.status).toBe("done");
    const ckdir = path.join(dir, "ckpt");
    const goodFile = path.join(ckdir, "step-00000004.safetensors");
    const goodBytes = readFileSync(goodFile);
    // Same run, continued with lr 1e30.
    const cfg = parse(readFileSync(file, "utf8"));
    cfg.train.steps = 8;
    cfg.train.lr = 1e30;
    writeFileSync(file, stringify(cfg));
    const r = await runTraining(loadConfig(file), { quiet: true, resume: "latest" });
    expect(r.status).toBe("diverged");
    expect(r.message).toMatch(/^step 5: the weights' norm \S+ is over 100x that at the resumed step 4 \(\S+\): the update diverged; not saved \(checkpoint\.max_weight_norm_growth\)$/);
    // Nothing from the resumed run was called good: it saved no checkpoint.
    expect(r.message).not.toMatch(/last good/);
    expect(readFileSync(path.join(ckdir, "latest"), "utf8").trim()).toBe("step-00000004.safetensors");
    expect(readdirSync(ckdir).filter((f) => f.endsWith(".safetensors"))).toEqual(["step-00000004.safetensors"]);
    expect(readFileSync(goodFile).equals(goodBytes)).toBe(true);
  }, 120_000);
});
