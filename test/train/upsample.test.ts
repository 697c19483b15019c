// data.upsample: languages from langid sidecars, copies per epoch through the
// loader's repeats hook, so a named language reaches its target share.
import { describe, expect, it, beforeAll } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { Loader } from "../../src/data/loader.js";
import { langSidecarOf } from "../../src/curation/worldwide/langid.js";
import { upsampleRepeatCount } from "../../src/train/upsample.js";
import { ShardSelection } from "../../src/formats/selection.js";
import { validateConfig } from "../../src/train/config.js";
import { charTokenize, writeShards, type Row } from "../data/loader-fixtures.js";
import { makeImage } from "../data/fixtures.js";

const langs = mkdtempSync(path.join(tmpdir(), "clipts-upsample-"));
let shards: string;
const swKeys = new Set<string>();

beforeAll(async () => {
  await tf.setBackend("cpu");
  const all: Row[][] = [];
  for (let s = 0; s < 2; s++) {
    const rows: Row[] = [];
    const lines: string[] = [];
    for (let r = 0; r < 20; r++) {
      const key = `s${s}-r${r}`;
      // 10% of the pool is Swahili (rows 18, 19 of each shard), the rest English.
      const lang = r >= 18 ? "sw" : "en";
      if (lang === "sw") swKeys.add(key);
      rows.push({ key, caption: `caption ${key}`, image: await makeImage("png", 8, 8, s * 100 + r), width: 8, height: 8 });
      lines.push(JSON.stringify({ row: r, key, lang, confidence: 0.9 }));
    }
    all.push(rows);
    writeFileSync(path.join(langs, langSidecarOf(`shard-${String(s).padStart(5, "0")}.arrow`)), lines.join("\n") + "\n");
  }
  shards = writeShards(all);
});

describe("data.upsample", () => {
  it("raises a named language to its target share of what the loader yields", async () => {
    const { repeats, weights } = await upsampleRepeatCount({ langs, targets: { sw: 0.4 }, seed: 1, min_confidence: 0 });
    expect(weights.copies.sw).toBeCloseTo(4, 12); // 0.4 / 0.1
    const epochs = 30;
    const loader = new Loader({ dir: shards, batchSize: 8, tokenize: charTokenize(8), contextLength: 8, imageSize: 8, mode: "eval", workers: 0, epochs, repeats });
    let sw = 0;
    let n = 0;
    for await (const b of loader) {
      for (const k of b.keys) if (swKeys.has(k)) sw++;
      n += b.keys.length;
      tf.dispose([b.images, b.tokens]);
    }
    await loader.close();
    // Swahili rows give exactly 4 copies each (16 per epoch); the 36 English rows
    // 0 or 1 copy with p = 2/3: the share is 0.4 with sd ~0.005 over 30 epochs.
    expect(sw).toBe(16 * epochs);
    expect(Math.abs(sw / n - 0.4)).toBeLessThan(0.03);
  });

  it("counts language shares over a selection's rows only, shard by shard", async () => {
    // Rows 10..19 of shard 0 and 15..19 of shard 1: 4 sw of 15 rows (the pool's share is 4/40).
    const selection = ShardSelection.fromRecord({ "shard-00000.arrow": [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], "shard-00001.arrow": [15, 16, 17, 18, 19] });
    const { weights } = await upsampleRepeatCount({ langs, targets: { sw: 0.4 }, seed: 1, min_confidence: 0 }, selection);
    expect(weights.rows).toBe(15);
    expect(weights.share.sw).toBeCloseTo(4 / 15, 12);
    const pool = await upsampleRepeatCount({ langs, targets: { sw: 0.4 }, seed: 1, min_confidence: 0 });
    expect(pool.weights.rows).toBe(40);
  });

  it("is validated with the config, naming the key", () => {
    const base = { model: { name: "micro" }, data: { train: "x", batch_size: 4 }, train: { steps: 1, lr: 1e-3 }, checkpoint: { dir: "c" } };
    const ok = validateConfig({ ...base, data: { ...base.data, upsample: { langs: "l", targets: "webli" } } });
    expect(ok.data.upsample).toEqual({ langs: "l", targets: "webli", seed: 0, min_confidence: 0 });
    expect(() => validateConfig({ ...base, data: { ...base.data, upsample: { langs: "l", targets: { sw: 2 } } } })).toThrow(/data\.upsample\.targets/);
  });
});
