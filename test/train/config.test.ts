import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { applyOverrides, loadConfig, totalSteps, validateConfig } from "../../src/train/config.js";
import { InputError } from "../../src/util/errors.js";

const base = `
model:
  name: tiny
data:
  train: ./shards
  batch_size: 8
train:
  steps: 10
  lr: 0.001
checkpoint:
  dir: ./ckpt
`;

function write(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "clipts-cfg-"));
  const f = path.join(dir, "c.yaml");
  writeFileSync(f, text);
  return f;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error("expected an error");
}

describe("train config", () => {
  it("fills defaults for a minimal config", () => {
    const c = loadConfig(write(base));
    expect(c.train.schedule).toBe("cosine");
    expect(c.train.beta2).toBe(0.98);
    expect(c.train.accum_freq).toBe(1);
    expect(c.log.every).toBe(10);
    expect(totalSteps(c)).toBe(10);
  });

  it("names an unknown key with its path", () => {
    const msg = errorOf(() => loadConfig(write(base + "  lrr: 3\n")));
    expect(msg).toContain("checkpoint.lrr: unknown key");
    const msg2 = errorOf(() => loadConfig(write(base.replace("train:\n", "train:\n  lerning_rate: 1\n"))));
    expect(msg2).toContain("train.lerning_rate: unknown key");
  });

  it("names a wrong type with its path", () => {
    const msg = errorOf(() => loadConfig(write(base.replace("lr: 0.001", "lr: fast"))));
    expect(msg).toContain("train.lr: expected number, got string");
  });

  it("names a missing required key", () => {
    const msg = errorOf(() => loadConfig(write(base.replace("  batch_size: 8\n", ""))));
    expect(msg).toContain("data.batch_size: required");
  });

  it("applies --set overrides parsed as YAML scalars", () => {
    const c = loadConfig(write(base), ["train.lr=1e-3", "train.schedule=const", "data.resampled=true", "train.grad_clip_norm=1"]);
    expect(c.train.lr).toBe(0.001);
    expect(c.train.schedule).toBe("const");
    expect(c.data.resampled).toBe(true);
    expect(c.train.grad_clip_norm).toBe(1);
  });

  it("rejects bad overrides with the key path", () => {
    expect(errorOf(() => loadConfig(write(base), ["train.lr=abc"]))).toContain("train.lr: expected number, got string");
    expect(errorOf(() => loadConfig(write(base), ["train.nope=1"]))).toContain("train.nope: unknown key");
    expect(errorOf(() => loadConfig(write(base), ["train.lr"]))).toContain("expected key.path=value");
    expect(errorOf(() => applyOverrides({ train: 3 }, ["train.lr=1"]))).toContain("train is not a section");
    expect(errorOf(() => loadConfig(write(base), ["train.schedule=linear"]))).toContain("train.schedule");
  });

  it("checks cross-field rules", () => {
    expect(errorOf(() => loadConfig(write(base), ["train.accum_freq=3"]))).toContain("divisible by train.accum_freq");
    expect(errorOf(() => loadConfig(write(base), ["train.samples=100"]))).toContain("exactly one of train.samples or train.steps");
    expect(errorOf(() => validateConfig({}))).toContain("model: required");
  });

  it("derives steps from samples seen", () => {
    const c = loadConfig(write(base.replace("steps: 10", "samples: 81")));
    expect(totalSteps(c)).toBe(11);
  });

  it("loads every shipped config", async () => {
    const { readdirSync } = await import("node:fs");
    const dir = path.resolve(__dirname, "../../configs");
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
    expect(files).toEqual(expect.arrayContaining(["vit-b16-metaclip400m.yaml", "vit-b32-metaclip400m.yaml", "vit-b16-siglip.yaml", "tiny-cpu.yaml", "demo.yaml"]));
    for (const f of files) loadConfig(path.join(dir, f));
    const b16 = loadConfig(path.join(dir, "vit-b16-metaclip400m.yaml"));
    expect([b16.data.batch_size, b16.train.lr, b16.train.beta1, b16.train.beta2, b16.train.eps, b16.train.weight_decay, b16.train.warmup]).toEqual([
      32768, 5e-4, 0.9, 0.98, 1e-6, 0.2, 2000,
    ]);
    expect(totalSteps(b16)).toBe(Math.ceil(12.8e9 / 32768));
    expect(b16.model.act).toBe("quick_gelu");
  });
});
