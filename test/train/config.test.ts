import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { applyOverrides, loadConfig, totalSteps, validateConfig } from "../../src/train/config.js";
import { describeRun, formatDryRun } from "../../src/train/dry-run.js";
import { InputError } from "../../src/util/errors.js";

const base = `
model:
  name: micro
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
    const b = loadConfig(write(base), ["data.balance={matches: m.jsonl, counts: c.json, threshold: 20000}"]);
    expect(b.data.balance).toEqual({ matches: "m.jsonl", counts: "c.json", threshold: 20000, seed: 0 });
    expect(errorOf(() => loadConfig(write(base), ["data.balance={matches: m.jsonl, counts: c.json, t: 1}"]))).toContain("data.balance.t: unknown key");
  });

  it("rejects bad overrides with the key path", () => {
    expect(errorOf(() => loadConfig(write(base), ["train.lr=abc"]))).toContain("train.lr: expected number, got string");
    expect(errorOf(() => loadConfig(write(base), ["train.nope=1"]))).toContain("train.nope: unknown key");
    expect(errorOf(() => loadConfig(write(base), ["train.lr"]))).toContain("expected key.path=value");
    expect(errorOf(() => applyOverrides({ train: 3 }, ["train.lr=1"]))).toContain("train is not a section");
    expect(errorOf(() => loadConfig(write(base), ["train.schedule=linear"]))).toContain("train.schedule");
    expect(errorOf(() => loadConfig(write(base), ["train.device=gpu0"]))).toContain('train.device: expected "cpu" or "cuda:N"');
    expect(loadConfig(write(base), ["train.device=cuda:1"]).train.device).toBe("cuda:1");
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

  it("dry-run report: parameter counts match open_clip's published model sizes", () => {
    const dir = path.resolve(__dirname, "../../configs");
    const b16 = describeRun(loadConfig(path.join(dir, "vit-b16-metaclip400m.yaml")));
    const b32 = describeRun(loadConfig(path.join(dir, "vit-b32-metaclip400m.yaml")));
    expect(b16.params).toBe(149_620_737);
    expect(b32.params).toBe(151_277_313);
    expect(b16.model.act).toBe("quick_gelu");
    expect(b16.steps).toBe(390_625);
    // B/16 has 4x the image tokens of B/32; the text tower is shared, so ~2.8x per sample.
    expect(b16.trainFlopsPerSample / b32.trainFlopsPerSample).toBeGreaterThan(2.5);
    expect(b16.trainFlopsPerSample / b32.trainFlopsPerSample).toBeLessThan(3.2);
    const text = formatDryRun(b16);
    expect(text).toContain("parameters:            149,620,737");
    expect(text).toMatch(/train FLOPs \/ sample: +\d\.\d{3}e\+11/);
    expect(text).toMatch(/memory \(fp32\): +weights\+grads\+AdamW 2\.23 GiB/);
  });

  it("inline model overrides apply to the named architecture and are validated", () => {
    const c = loadConfig(write(base), ["model.vision.image_size=32", "model.act=quick_gelu"]);
    const r = describeRun(c);
    expect(r.model.vision.imageSize).toBe(32);
    expect(r.model.act).toBe("quick_gelu");
    expect(() => describeRun(loadConfig(write(base), ["model.vision.patch_size=5"]))).toThrow(/patchSize/);
    expect(() => describeRun(loadConfig(write(base), ["data.image_size=64"]))).toThrow(/data.image_size/);
  });
});
