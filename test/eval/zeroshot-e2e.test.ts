// End to end with the real pieces: sharp-drawn images of four coloured shapes
// -> Arrow shards -> `runTraining` of the micro model -> checkpoint ->
// zero-shot classification, retrieval and a suite through the checkpoint-level
// entry points (real decoding through the loader's eval transform, the real
// CLIP tokenizer). The data is learnable, so the trained model must be
// near-perfect; an untrained one must not be.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { ShardWriter } from "../../src/formats/shards.js";
import { evalCheckpointRetrieval, evalCheckpointSuite, evalCheckpointZeroShot } from "../../src/eval/run.js";
import { buildZeroShotClassifier } from "../../src/eval/zeroshot.js";
import { loadEvalModel } from "../../src/model/load.js";
import { normalizeRows } from "../../src/eval/metrics.js";
import { validateConfig } from "../../src/train/config.js";
import { runTraining } from "../../src/train/run.js";
import { Rng } from "../../src/util/hash.js";

const CLASSES = [
  { name: "red square", color: "#e01010", shape: "square" },
  { name: "green circle", color: "#10c010", shape: "circle" },
  { name: "blue triangle", color: "#1020e0", shape: "triangle" },
  { name: "yellow cross", color: "#e0d010", shape: "cross" },
] as const;

/** A 32x32 PNG: the class's shape in its colour on a grey background, jittered in place and size. */
async function draw(cls: (typeof CLASSES)[number], rng: Rng): Promise<Uint8Array> {
  const s = 14 + rng.int(8);
  const x = 2 + rng.int(32 - s - 3);
  const y = 2 + rng.int(32 - s - 3);
  const shape = {
    square: `<rect x="${x}" y="${y}" width="${s}" height="${s}"/>`,
    circle: `<circle cx="${x + s / 2}" cy="${y + s / 2}" r="${s / 2}"/>`,
    triangle: `<polygon points="${x + s / 2},${y} ${x + s},${y + s} ${x},${y + s}"/>`,
    cross: `<path d="M${x + s / 3} ${y}h${s / 3}v${s / 3}h${s / 3}v${s / 3}h${-s / 3}v${s / 3}h${-s / 3}v${-s / 3}h${-s / 3}v${-s / 3}h${s / 3}z"/>`,
  }[cls.shape];
  const grey = 100 + rng.int(60);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" fill="rgb(${grey},${grey},${grey})"/><g fill="${cls.color}">${shape}</g></svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
}

const dir = mkdtempSync(path.join(os.tmpdir(), "clipts-e2e-"));
const TEMPLATE = "a photo of a {}.";
// wasm trains the micro model ~3x faster than the cpu backend (40 steps in ~20 s on 2 cores).
const BACKEND = "wasm" as const;
let trained = "";
let untrained = "";

async function train(steps: number, ckdir: string): Promise<string> {
  const cfg = validateConfig({
    model: { name: "micro" },
    data: { train: path.join(dir, "shards"), batch_size: 16, workers: 0, seed: 1 },
    train: { steps, lr: 5e-3, warmup: 4, weight_decay: 0.0, backend: BACKEND, seed: 1 },
    checkpoint: { dir: ckdir, every: 0, keep: 1 },
    log: { every: 1000 },
  });
  const r = await runTraining(cfg, { quiet: true });
  expect(r.status).toBe("done");
  return r.lastCheckpoint!;
}

beforeAll(async () => {
  const rng = new Rng(42);
  // Training shards: 48 images per class, captioned with the template itself. 40 steps of 16.
  const w = new ShardWriter(path.join(dir, "shards"), { rowsPerShard: 96 });
  await w.start();
  for (let i = 0; i < 48; i++) {
    for (const c of CLASSES) {
      await w.add({ key: `${c.shape}-${i}`, caption: TEMPLATE.replace("{}", c.name), image: await draw(c, rng), width: 32, height: 32 });
    }
  }
  await w.finish();
  // Held-out class folders (8 per class) and a caption file (one image per class, two captions each).
  const jsonl: string[] = [];
  for (const c of CLASSES) {
    const folder = path.join(dir, "val", c.name.replace(" ", "_"));
    mkdirSync(folder, { recursive: true });
    for (let i = 0; i < 8; i++) writeFileSync(path.join(folder, `${i}.png`), await draw(c, rng));
    writeFileSync(path.join(dir, `${c.shape}.png`), await draw(c, rng));
    jsonl.push(JSON.stringify({ image: `${c.shape}.png`, captions: [TEMPLATE.replace("{}", c.name), `a photo of the ${c.name}.`] }));
  }
  // The same held-out images as shards "ingested from class folders": manifest classes = folder names, row label = index.
  const folders = CLASSES.map((c) => c.name.replace(" ", "_")).sort();
  const sw = new ShardWriter(path.join(dir, "val-shards"), { rowsPerShard: 10 });
  await sw.start();
  for (const [f, folder] of folders.entries()) {
    for (let i = 0; i < 8; i++) {
      await sw.add({ key: `${folder}/${i}`, caption: "", image: new Uint8Array(readFileSync(path.join(dir, "val", folder, `${i}.png`))), width: 32, height: 32, label: f });
    }
  }
  await sw.add({ key: "unlabelled", caption: "", image: new Uint8Array(readFileSync(path.join(dir, "val", folders[0], "0.png"))), width: 32, height: 32 });
  await sw.finish({ classes: folders });
  // The same images as shards from a table with a label column: no manifest
  // classes, each label indexes the class-names file (CLASSES order).
  const tw = new ShardWriter(path.join(dir, "val-table-shards"), { rowsPerShard: 10 });
  await tw.start();
  for (const [l, c] of CLASSES.entries()) {
    const folder = c.name.replace(" ", "_");
    for (let i = 0; i < 8; i++) {
      await tw.add({ key: `${folder}/${i}`, caption: "", image: new Uint8Array(readFileSync(path.join(dir, "val", folder, `${i}.png`))), width: 32, height: 32, label: l });
    }
  }
  await tw.finish();
  writeFileSync(path.join(dir, "val", "broken.png"), "not an image"); // not in a class folder: ignored
  writeFileSync(path.join(dir, "val", "red_square", "corrupt.png"), "not a png"); // skipped and counted
  writeFileSync(path.join(dir, "captions.jsonl"), jsonl.join("\n") + "\n");
  writeFileSync(path.join(dir, "classnames.txt"), CLASSES.map((c) => c.name).join("\n"));
  writeFileSync(path.join(dir, "templates.json"), JSON.stringify([TEMPLATE]));
  trained = await train(40, path.join(dir, "run"));
  untrained = await train(1, path.join(dir, "run0"));
}, 600_000);

const common = (checkpoint: string) => ({
  checkpoint,
  backend: BACKEND,
  workers: 0,
  quiet: true,
  cacheDir: path.join(dir, "cache"),
});

describe("zero-shot end to end", () => {
  it("a trained micro model classifies held-out shapes near-perfectly; an untrained one does not", async () => {
    const zs = (checkpoint: string) =>
      evalCheckpointZeroShot({ ...common(checkpoint), dataset: "shapes", dataDir: path.join(dir, "val"), classnames: path.join(dir, "classnames.txt"), templates: path.join(dir, "templates.json") });
    const r = await zs(trained);
    expect(r.images).toBe(32);
    expect(r.skipped.count).toBe(1);
    expect(Object.keys(r.skipped.byReason)).toEqual(["decode-error"]);
    expect(r.top1).toBeGreaterThanOrEqual(0.9);
    expect(r.top5).toBe(1); // 4 classes: always inside the top 5
    expect(r.perClass.map((c) => c.images)).toEqual([8, 8, 8, 8]);
    expect(r.classifierCached).toBe(false);
    const again = await zs(trained);
    expect(again.classifierCached).toBe(true);
    expect(again.top1).toBe(r.top1);
    const r0 = await zs(untrained);
    expect(r0.top1).toBeLessThan(0.75);
    // The same images from labelled shards give the same answer.
    const sh = await evalCheckpointZeroShot({ ...common(trained), dataset: "shapes", shards: path.join(dir, "val-shards"), classnames: path.join(dir, "classnames.txt"), templates: path.join(dir, "templates.json") });
    expect(sh.images).toBe(32);
    expect(sh.unlabelledRows).toBe(1);
    expect(sh.top1).toBe(r.top1);
    expect(sh.perClass.map((c) => c.accuracy)).toEqual(r.perClass.map((c) => c.accuracy));
    const tab = await evalCheckpointZeroShot({ ...common(trained), dataset: "shapes", shards: path.join(dir, "val-table-shards"), classnames: path.join(dir, "classnames.txt"), templates: path.join(dir, "templates.json") });
    expect(tab.images).toBe(32);
    expect(tab.top1).toBe(r.top1);
    expect(tab.perClass.map((c) => c.accuracy)).toEqual(r.perClass.map((c) => c.accuracy));
  });

  it("the classifier equals normalize(encodeText(tokenize(template))) for one template", async () => {
    const m = await loadEvalModel(trained);
    try {
      const names = CLASSES.map((c) => c.name);
      const clf = await buildZeroShotClassifier(m.model, m.tokenizer, names, [TEMPLATE], { quiet: true });
      const ctx = m.model.config.text.contextLength;
      const ids = m.tokenizer.tokenize(names.map((n) => TEMPLATE.replace("{}", n)), ctx);
      const feats = tf.tidy(() => m.model.encodeText(tf.tensor2d(ids, [names.length, ctx], "int32")));
      const want = normalizeRows(feats.dataSync() as Float32Array, names.length, m.model.config.embedDim);
      feats.dispose();
      for (let i = 0; i < want.length; i++) expect(clf.weights[i]).toBeCloseTo(want[i], 5);
    } finally {
      m.dispose();
    }
  });

  it("retrieval: one image per class, two captions each", async () => {
    const r = await evalCheckpointRetrieval({ ...common(trained), captions: path.join(dir, "captions.jsonl") });
    expect(r.images).toBe(4);
    expect(r.texts).toBe(8);
    expect(r.imageToText[1]).toBe(1);
    expect(r.textToImage[1]).toBeGreaterThanOrEqual(0.75);
    expect(r.imageToText[10]).toBe(1);
  });

  it("suite: one Markdown table with the average, results JSON written", async () => {
    const suite = path.join(dir, "suite.yaml");
    writeFileSync(
      suite,
      `name: shapes
tasks:
  - {name: shapes-zs, type: zeroshot, dataset: shapes, dataDir: val, classnames: classnames.txt, templates: templates.json}
  - {name: shapes-ret, type: retrieval, captions: captions.jsonl}
`,
    );
    const out = path.join(dir, "suite-result.json");
    const { result, markdown } = await evalCheckpointSuite({ ...common(trained), suite, out });
    expect(result.tasks.map((t) => t.metric)).toEqual(["top1", "mean_recall@1"]);
    expect(result.average).toBeCloseTo((result.tasks[0].value + result.tasks[1].value) / 2, 12);
    expect(markdown).toMatch(/\| shapes-zs \| zero-shot \| top-1 \|/);
    expect(markdown).toMatch(/\*\*average\*\*/);
    const json = JSON.parse(readFileSync(out, "utf8"));
    expect(json.average).toBe(result.average);
    expect(json.model).toBe("micro");
    expect(json.scalars["shapes-zs/top1"]).toBe(result.tasks[0].value);
  });

  it("CLI: clipts eval zeroshot prints the report; a bad suite exits 2 naming the key", () => {
    const cli = (args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "eval", ...args], { encoding: "utf8", env: { ...process.env, CLIPTS_QUIET: "1" } });
    const ok = cli([
      "zeroshot", "--checkpoint", path.join(dir, "run"), "--dataset", "shapes", "--data-dir", path.join(dir, "val"),
      "--classnames", path.join(dir, "classnames.txt"), "--templates", path.join(dir, "templates.json"),
      "--backend", BACKEND, "--workers", "1", "--no-cache", "--out", path.join(dir, "cli.json"),
    ]);
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/zero-shot shapes: 32 images, 4 classes/);
    expect(ok.stdout).toMatch(/top-1 \d+\.\d\d%/);
    expect(JSON.parse(readFileSync(path.join(dir, "cli.json"), "utf8")).images).toBe(32);
    writeFileSync(path.join(dir, "bad.yaml"), "tasks:\n  - {name: a, type: zeroshot, dataset: shapes, dataDir: val}\n");
    const bad = cli(["suite", "--checkpoint", path.join(dir, "run"), "--suite", path.join(dir, "bad.yaml")]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/bad\.yaml: tasks\[0\]\.dataset: "shapes" is not built in/);
  });

  it("ImageNet layout: wnid folders map to the sorted-wnid class index over all 1000 classes", async () => {
    const val = path.join(dir, "imagenet-val");
    const rng = new Rng(5);
    for (const wnid of ["n01440764", "n01443537", "n15075141"]) {
      mkdirSync(path.join(val, wnid), { recursive: true });
      for (let i = 0; i < 2; i++) writeFileSync(path.join(val, wnid, `ILSVRC2012_val_${wnid}_${i}.JPEG`), await sharp(await draw(CLASSES[i], rng)).jpeg().toBuffer());
    }
    const cacheDir = path.join(dir, "in-cache");
    // One template instead of the shipped 80 keeps this fast (80,000 prompts take ~40 s here).
    const r = await evalCheckpointZeroShot({ ...common(trained), cacheDir, dataset: "imagenet", dataDir: val, templates: path.join(dir, "templates.json") });
    expect(r.classes).toBe(1000);
    expect(r.images).toBe(6);
    const withImages = r.perClass.flatMap((c, i) => (c.images > 0 ? [[i, c.class, c.images]] : []));
    expect(withImages).toEqual([[0, "tench", 2], [1, "goldfish", 2], [999, "toilet paper", 2]]);
    // The 1000 x embedDim classifier was cached under the checkpoint's hash.
    const cached = readdirSync(cacheDir);
    expect(cached).toHaveLength(1);
    expect(statSync(path.join(cacheDir, cached[0])).size).toBe(12 + 1000 * 32 * 4);
  }, 120_000);
});
