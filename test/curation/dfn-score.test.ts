// DFN scoring on real pieces: a randomly initialised micro CLIP saved as a
// plain safetensors file with open_clip key names (no clipts metadata, so it
// loads through --model like a user's checkpoint), real Arrow shards of real
// JPEGs, the real CLIP tokenizer. Scores are checked against an independent
// path: the Loader's eval batches -> encodeImage/encodeText -> normalize -> dot.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { scoreShards } from "../../src/curation/dfn/score.js";
import { readScoreSidecar, scoreSidecarOf } from "../../src/curation/dfn/sidecar.js";
import { Loader } from "../../src/data/loader.js";
import { createModel, disposeModel, getModelConfig } from "../../src/model/index.js";
import { loadTokenizer } from "../../src/text/index.js";
import { writeSafetensors } from "../../src/model/safetensors.js";
import { writeShards, type Row } from "../data/loader-fixtures.js";
import { makeImage, writeTar } from "../data/fixtures.js";
import { readShard } from "../../src/formats/shards.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "clipts-dfn-score-"));
const cfg = getModelConfig("micro");
let shards = "";
let ckpt = "";
let ckpt2 = "";

async function saveRandomModel(file: string, seed: number): Promise<void> {
  const model = createModel(cfg, { seed });
  await writeSafetensors(
    file,
    [...model.params].map(([name, v]) => ({ name, shape: v.shape, dtype: "F32" as const, data: () => v.dataSync() as Float32Array })),
  );
  disposeModel(model);
}

const CAPTIONS = ["a red square", "a photo of a dog", "blue sky over the sea", "IMG_0042.JPG", "two cats on a sofa", "a green leaf", "ein roter Apfel"];

beforeAll(async () => {
  await tf.setBackend("cpu");
  ckpt = path.join(dir, "filter.safetensors");
  ckpt2 = path.join(dir, "other.safetensors");
  await saveRandomModel(ckpt, 7);
  await saveRandomModel(ckpt2, 8);
  const good = async (i: number): Promise<Row> => ({ key: `k${i}`, caption: CAPTIONS[i % CAPTIONS.length]!, image: await makeImage("jpeg", 20 + (i % 5) * 4, 24, i), width: 24, height: 24 });
  const s0: Row[] = [];
  for (let i = 0; i < 7; i++) s0.push(await good(i));
  s0.push({ key: "bad-caption", caption: "  ", image: await makeImage("jpeg", 16, 16, 99), width: 16, height: 16 });
  s0.push({ key: "bad-image", caption: "a corrupt file", image: new TextEncoder().encode("not an image at all"), width: 1, height: 1 });
  const s1: Row[] = [];
  s1.push({ key: null, caption: "no key", image: await makeImage("jpeg", 16, 16, 98), width: 16, height: 16 });
  for (let i = 7; i < 12; i++) s1.push(await good(i));
  s1.push({ key: "no-image", caption: "an empty cell", image: null, width: 0, height: 0 });
  mkdirSync(path.join(dir, "shards"));
  shards = writeShards([s0, s1], path.join(dir, "shards"));
}, 60_000);

describe("scoreShards", () => {
  it("stores each pair's cosine similarity (independent check through the Loader and the model's encoders)", async () => {
    const out = path.join(dir, "scores");
    const r = await scoreShards({ checkpoint: ckpt, model: "micro", input: shards, output: out, backend: "cpu", workers: 0, batchSize: 3, quiet: true });
    expect(r.rows).toBe(16);
    expect(r.scored).toBe(12);
    expect(r.skipped.byReason).toEqual({ "bad-caption": 1, "decode-error": 1, "missing-key": 1, "missing-image": 1 });
    expect(r.skipped.examples.map((e) => e.key).sort()).toEqual(["bad-caption", "bad-image", "no-image", null].sort());
    expect(r.histogram.counts.reduce((a, b) => a + b, 0)).toBe(12);
    expect(readFileSync(path.join(out, "scores_histogram.svg"), "utf8")).toMatch(/^<svg/);

    const got = new Map<string, { shard: string; row: number; score: number }>();
    for (const s of ["shard-00000.arrow", "shard-00001.arrow"]) {
      for (const x of (await readScoreSidecar(path.join(out, scoreSidecarOf(s)))).scored) got.set(x.key, x);
    }
    expect(got.get("k0")).toMatchObject({ shard: "shard-00000.arrow", row: 0 });
    expect(got.get("k7")).toMatchObject({ shard: "shard-00001.arrow", row: 1 });

    // Reference: same weights read back, eval-mode Loader batches, tf encoders, explicit normalize + dot.
    const model = createModel(cfg, { seed: 123 });
    const { readSafetensors } = await import("../../src/model/safetensors.js");
    const { tensors } = await readSafetensors(ckpt);
    for (const [name, v] of model.params) v.assign(tf.tensor(tensors.get(name)!.data as Float32Array, v.shape));
    const tok = await loadTokenizer({ kind: "clip", contextLength: cfg.text.contextLength });
    const loader = new Loader({
      dir: shards, batchSize: 4, mode: "eval", imageSize: cfg.vision.imageSize, workers: 0,
      contextLength: cfg.text.contextLength, tokenize: (t) => tok.tokenize(t, cfg.text.contextLength),
    });
    const ref = new Map<string, number>();
    for await (const b of loader) {
      const cos = tf.tidy(() => {
        const i = model.encodeImage(b.images);
        const t = model.encodeText(b.tokens);
        const ni = tf.div(i, tf.norm(i, "euclidean", 1, true));
        const nt = tf.div(t, tf.norm(t, "euclidean", 1, true));
        return tf.sum(tf.mul(ni, nt), 1);
      });
      const v = cos.dataSync();
      b.keys.forEach((k, j) => ref.set(k, v[j]!));
      tf.dispose([cos, b.images, b.tokens]);
    }
    disposeModel(model);
    expect([...ref.keys()].sort()).toEqual([...got.keys()].sort());
    for (const [k, s] of ref) expect(Math.abs(got.get(k)!.score - s)).toBeLessThan(2e-5);
    // A random network still gives pairs distinct scores (the check above is not comparing constants).
    const vals = [...ref.values()];
    expect(Math.max(...vals) - Math.min(...vals)).toBeGreaterThan(1e-3);
  }, 120_000);

  it("resumes: finished shards are skipped, a missing sidecar is redone identically, another filter is refused", async () => {
    const out = path.join(dir, "scores-resume");
    const o = { checkpoint: ckpt, model: "micro", input: shards, output: out, backend: "cpu" as const, workers: 0, batchSize: 4, quiet: true };
    const first = await scoreShards(o);
    expect(first.scoredNow).toEqual(["shard-00000.arrow", "shard-00001.arrow"]);
    const f0 = path.join(out, scoreSidecarOf("shard-00000.arrow"));
    const f1 = path.join(out, scoreSidecarOf("shard-00001.arrow"));
    const before0 = readFileSync(f0, "utf8");
    const mtime1 = statSync(f1).mtimeMs;
    rmSync(f0);
    const second = await scoreShards(o);
    expect(second.scoredNow).toEqual(["shard-00000.arrow"]);
    expect(second.resumed).toEqual(["shard-00001.arrow"]);
    expect(statSync(f1).mtimeMs).toBe(mtime1);
    expect(readFileSync(f0, "utf8")).toBe(before0);
    // The summary still covers both shards and equals the first run's.
    expect(second.scored).toBe(first.scored);
    expect(second.skipped.byReason).toEqual(first.skipped.byReason);
    expect(second.histogram).toEqual(first.histogram);
    const third = await scoreShards(o);
    expect(third.scoredNow).toEqual([]);
    await expect(scoreShards({ ...o, checkpoint: ckpt2 })).rejects.toThrow(/another filter/);
    // A shard rewritten under the same name (its manifest sha256 changes) is refused too.
    const mf = path.join(shards, "manifest.json");
    const orig = readFileSync(mf, "utf8");
    const m = JSON.parse(orig);
    m.shards[1].sha256 = "0".repeat(64);
    writeFileSync(mf, JSON.stringify(m));
    try {
      await expect(scoreShards(o)).rejects.toThrow(/shard-00001.arrow changed/);
    } finally {
      writeFileSync(mf, orig);
    }
  }, 120_000);

  it("scores webdataset tars in place as it scores the same rows in Arrow shards", async () => {
    // The shard folder's usable rows as two tars (KEY.jpg, KEY.txt), in the same order.
    const tars = path.join(dir, "tars");
    for (const [t, file] of ["shard-00000.arrow", "shard-00001.arrow"].entries()) {
      const members: { name: string; data: Buffer | string }[] = [];
      for await (const { sample } of readShard(path.join(shards, file))) {
        if (typeof sample.key !== "string" || !sample.image || !String(sample.caption ?? "").trim() || sample.key.startsWith("bad")) continue;
        members.push({ name: `${sample.key}.jpg`, data: Buffer.from(sample.image) }, { name: `${sample.key}.txt`, data: sample.caption });
      }
      await writeTar(path.join(tars, `${String(t).padStart(5, "0")}.tar`), members);
    }
    const fromShards = path.join(dir, "scores-shards"), fromTars = path.join(dir, "scores-tars");
    await scoreShards({ checkpoint: ckpt, model: "micro", input: shards, output: fromShards, backend: "cpu", workers: 0, batchSize: 3, quiet: true });
    const r = await scoreShards({ checkpoint: ckpt, model: "micro", input: path.join(tars, "{00000..00001}.tar"), output: fromTars, backend: "cpu", workers: 0, batchSize: 3, quiet: true });
    expect(r.shards).toBe(2);
    const byKey = async (out: string, names: string[]) => {
      const m = new Map<string, number>();
      for (const n of names) for (const x of (await readScoreSidecar(path.join(out, scoreSidecarOf(n)))).scored) m.set(x.key, x.score);
      return m;
    };
    const a = await byKey(fromShards, ["shard-00000.arrow", "shard-00001.arrow"]);
    const b = await byKey(fromTars, ["00000.tar", "00001.tar"]);
    expect(b.size).toBe(12);
    for (const [key, score] of b) expect(score).toBe(a.get(key));
  });

  it("fails before work on a bad batch size or a safetensors file without --model", async () => {
    const o = { checkpoint: ckpt, input: shards, output: path.join(dir, "bad"), backend: "cpu" as const, quiet: true };
    await expect(scoreShards({ ...o, model: "micro", batchSize: 0 })).rejects.toThrow(/--batch/);
    await expect(scoreShards(o)).rejects.toThrow(/--model/);
  });
});
