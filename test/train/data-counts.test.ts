// The loader's losses are never silent: a shard whose bytes changed is
// refused by its hash (on by default, off by data.verify_hashes) and, like
// skips and cut shards, counted in every log.jsonl window and in the run's
// result that `clipts train` prints; a resumed run's log has no step twice.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { listShards } from "../../src/formats/shards.js";
import { loadConfig } from "../../src/train/config.js";
import { formatDataCounts } from "../../src/train/metrics.js";
import { runTraining } from "../../src/train/run.js";
import { colorShards, writeConfig } from "./fixtures.js";

let shards: string;
let flipped: string;
beforeAll(async () => {
  shards = await colorShards(32, 8);
  const m = await listShards(shards);
  flipped = m.shards[1]!.file;
  // Flip one caption byte ("colour" -> "Colour"): the file still parses, only the hash tells.
  const f = path.join(shards, flipped);
  const bytes = readFileSync(f);
  const at = bytes.indexOf("colour");
  expect(at).toBeGreaterThan(0);
  bytes[at] = "C".charCodeAt(0);
  writeFileSync(f, bytes);
});

const lines = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);

describe("loader counts in training", () => {
  it("a shard with changed bytes is refused by its hash, logged per window and summarised", async () => {
    const [file] = writeConfig(shards, { data: { batch_size: 8 }, train: { steps: 6 }, checkpoint: { every: 0 } });
    const r = await runTraining(loadConfig(file), { quiet: true });
    expect(r.status).toBe("done");
    expect(Object.keys(r.data.truncatedShards)).toEqual([flipped]);
    expect(r.data.truncatedShards[flipped]!.lostRows).toBe(8);
    expect(r.data.truncatedShards[flipped]!.reason).toMatch(/^shard hash mismatch: sha256 [0-9a-f]{64} != manifest [0-9a-f]{64}$/);
    const log = lines(r.jsonl);
    expect(log).toHaveLength(6);
    for (const l of log) expect(l.data_skipped).toBe(0);
    expect(log[5]).toMatchObject({ data_cut_shards: 1, data_cut_rows: 8 });
    expect(formatDataCounts(r.data)).toEqual([`data: ${flipped}: 8 row(s) lost (${r.data.truncatedShards[flipped]!.reason})`]);
  }, 120_000);

  it("data.verify_hashes: false reads the changed shard (the check is what refused it)", async () => {
    const [file] = writeConfig(shards, { data: { batch_size: 8, verify_hashes: false }, train: { steps: 6 }, checkpoint: { every: 0 } });
    const r = await runTraining(loadConfig(file), { quiet: true });
    expect(r.data.truncatedShards).toEqual({});
    expect(lines(r.jsonl)[5]).toMatchObject({ data_cut_shards: 0, data_cut_rows: 0 });
    expect(formatDataCounts(r.data)).toEqual([]);
  }, 120_000);

  it("log.jsonl holds each step once after a resume from an earlier checkpoint", async () => {
    const [file, dir] = writeConfig(shards, { data: { batch_size: 8, verify_hashes: false }, train: { steps: 6 }, checkpoint: { every: 3, keep: 0 } });
    const first = await runTraining(loadConfig(file), { quiet: true });
    expect(lines(first.jsonl).map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    // As after a kill between step 3's checkpoint and the end: latest names step 3, the log already has 4-6.
    writeFileSync(path.join(dir, "ckpt", "latest"), "step-00000003.safetensors\n");
    const cfg = parse(readFileSync(file, "utf8"));
    writeFileSync(file, stringify(cfg));
    const again = await runTraining(loadConfig(file), { quiet: true, resume: "latest" });
    expect(again.status).toBe("done");
    const steps = lines(again.jsonl).map((l) => l.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
  }, 120_000);
});
