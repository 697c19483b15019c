import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadSuite, parseSuite, suiteMarkdown, writeSuiteResult, type SuiteResult } from "../../src/eval/suite.js";
import { InputError } from "../../src/util/errors.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "clipts-suite-"));
mkdirSync(path.join(dir, "val"));
writeFileSync(path.join(dir, "coco.jsonl"), "");
const file = path.join(dir, "s.yaml");

function err(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseSuite(text, file, { env });
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

describe("suite YAML validation", () => {
  it("accepts a valid suite and resolves paths against the suite's folder", () => {
    const s = parseSuite(
      `name: small
batchSize: 32
tasks:
  - {name: in1k, type: zeroshot, dataset: imagenet, dataDir: val, perClass: 5}
  - {name: coco, type: retrieval, captions: "\${COCO}", limit: 100}
`,
      file,
      { env: { COCO: "coco.jsonl" } },
    );
    expect(s.tasks).toHaveLength(2);
    expect(s.tasks[0]).toMatchObject({ type: "zeroshot", dataDir: path.join(dir, "val"), perClass: 5 });
    expect(s.tasks[1]).toMatchObject({ type: "retrieval", captions: path.join(dir, "coco.jsonl"), limit: 100 });
  });

  it("errors name the file and the key", () => {
    expect(err("tasks: []")).toMatch(/s\.yaml: tasks: /);
    expect(err("tasks:\n  - {name: a, type: zeroshot, dataset: imagenet}")).toMatch(/s\.yaml: tasks\[0\]\.dataDir: /);
    expect(err("tasks:\n  - {name: a, type: zeroshot, dataset: imagenet, dataDir: val, perClass: 0}")).toMatch(/tasks\[0\]\.perClass: /);
    expect(err("tasks:\n  - {name: a, type: zeroshot, dataset: imagenet, dataDir: val, bogus: 1}")).toMatch(/tasks\[0\]: .*bogus/);
    expect(err("tasks:\n  - {name: a, type: linear-probe}")).toMatch(/tasks\[0\]\.type: /);
    expect(err("batchSize: -1\ntasks:\n  - {name: a, type: zeroshot, dataset: imagenet, dataDir: val}")).toMatch(/s\.yaml: batchSize: /);
    expect(err("tasks:\n  - {name: a, type: zeroshot, dataset: imagenet, dataDir: val, shards: val}")).toMatch(/tasks\[0\]\.dataDir: give exactly one of dataDir/);
    expect(err("tasks:\n  - {name: r, type: retrieval}")).toMatch(/tasks\[0\]\.captions: give exactly one of captions/);
    expect(err("tasks:\n  - {name: r, type: retrieval, captions: coco.jsonl, shards: val}")).toMatch(/tasks\[0\]\.captions: give exactly one/);
  });

  it("semantic errors name the key too", () => {
    expect(err("tasks:\n  - {name: a, type: zeroshot, dataset: imagenet, dataDir: missing}")).toMatch(/tasks\[0\]\.dataDir: .*missing does not exist/);
    expect(err("tasks:\n  - {name: a, type: zeroshot, dataset: imagenet, dataDir: coco.jsonl}")).toMatch(/tasks\[0\]\.dataDir: .*not a folder/);
    expect(err("tasks:\n  - {name: a, type: zeroshot, dataset: flowers, dataDir: val}")).toMatch(/tasks\[0\]\.dataset: "flowers" is not built in/);
    expect(
      err("tasks:\n  - {name: a, type: zeroshot, dataset: imagenet, dataDir: val}\n  - {name: a, type: retrieval, captions: coco.jsonl}"),
    ).toMatch(/tasks\[1\]\.name: duplicate task name "a"/);
    expect(err(`tasks:\n  - {name: a, type: retrieval, captions: "\${NOPE}"}`)).toMatch(/tasks\[0\]\.captions: environment variable NOPE is not set/);
    expect(err("tasks: [unclosed")).toMatch(/s\.yaml: invalid YAML/);
    expect(() => loadSuite(path.join(dir, "none.yaml"))).toThrow(/none\.yaml: cannot read \(ENOENT\)/);
  });

  it("the shipped suites parse (paths unchecked: they point at user data)", () => {
    const cfg = path.resolve("configs/eval");
    const env = { IMAGENET_VAL: "/x", CIFAR10_TEST: "/x", CIFAR100_TEST: "/x", COCO_CAPTIONS: "/x.jsonl", FLICKR30K_CAPTIONS: "/x.jsonl" };
    const files = readdirSync(cfg).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(loadSuite(path.join(cfg, f), { env, checkPaths: false }).tasks.length).toBeGreaterThan(0);
  });
});

describe("suite report", () => {
  const result: SuiteResult = {
    suite: "t",
    average: 0.5,
    scalars: {},
    tasks: [
      {
        name: "cls",
        type: "zeroshot",
        metric: "top1",
        value: 0.75,
        result: {
          task: "zeroshot", dataset: "x", classes: 4, images: 8, top1: 0.75, top5: 1, meanPerClass: 0.7, perClass: [], confused: [],
          skipped: { count: 0, byReason: {}, examples: [] }, classifierCached: false,
          timing: { textMs: 0, decodeWaitMs: 0, modelMs: 0, imagesMs: 0, imagesPerSec: 0 },
        },
      },
      {
        name: "ret",
        type: "retrieval",
        metric: "mean_recall@1",
        value: 0.25,
        result: {
          task: "retrieval", dataset: "ret", images: 4, texts: 8, imageToText: { 1: 0.25, 5: 1 }, textToImage: { 1: 0.25, 5: 1 }, meanRecallAt1: 0.25,
          badRows: { count: 0, byReason: {}, examples: [] }, skippedImages: { count: 0, byReason: {}, examples: [] },
          timing: { textMs: 0, decodeWaitMs: 0, modelMs: 0, imagesMs: 0, imagesPerSec: 0 },
        },
      },
    ],
  };

  it("one Markdown table with an average row", () => {
    const md = suiteMarkdown(result);
    const lines = md.trim().split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[2]).toMatch(/^\| cls \| zero-shot \| top-1 \| 75\.00 \|/);
    expect(lines[3]).toMatch(/^\| ret \| retrieval \| mean R@1 \| 25\.00 \|.*R@5 100\.00/);
    expect(lines[4]).toMatch(/^\| \*\*average\*\* \| \| \| \*\*50\.00\*\* \|/);
  });

  it("writes the JSON atomically (no temp file left)", async () => {
    const out = path.join(dir, "res", "r.json");
    await writeSuiteResult(out, result, { checkpoint: "c" });
    expect(JSON.parse(readFileSync(out, "utf8"))).toMatchObject({ checkpoint: "c", average: 0.5 });
    expect(readdirSync(path.dirname(out))).toEqual(["r.json"]);
  });
});
