// Test data for training runs: a small learnable image-text data set made of
// real PNG images (sharp) in real Arrow shards, one distinct colour per
// caption, and a config writer.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { stringify } from "yaml";
import { writeShards, type Row } from "../data/loader-fixtures.js";

export const COLORS: [string, [number, number, number]][] = [
  ["red", [220, 30, 30]],
  ["green", [30, 200, 40]],
  ["blue", [30, 40, 220]],
  ["yellow", [235, 225, 40]],
  ["purple", [130, 40, 170]],
  ["orange", [245, 140, 20]],
  ["pink", [245, 150, 200]],
  ["brown", [120, 70, 30]],
  ["black", [10, 10, 10]],
  ["white", [245, 245, 245]],
  ["gray", [128, 128, 128]],
  ["cyan", [40, 220, 220]],
  ["magenta", [220, 40, 220]],
  ["olive", [120, 120, 20]],
  ["navy", [20, 20, 110]],
  ["teal", [20, 120, 120]],
];

/**
 * One shard per `perShard` rows: a noisy w x h image of each colour, captioned
 * with its name. Rows listed in `corrupt` get a truncated PNG (the loader
 * skips and counts them).
 */
export async function colorShards(n = 16, perShard = 8, size = 24, corrupt: number[] = []): Promise<string> {
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const [name, rgb] = COLORS[i % COLORS.length]!;
    const px = Buffer.alloc(size * size * 3);
    let s = (i + 1) * 2654435761;
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < 3; c++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        px[p * 3 + c] = Math.max(0, Math.min(255, rgb[c]! + ((s >>> 24) % 31) - 15));
      }
    }
    let png = new Uint8Array(await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer());
    if (corrupt.includes(i)) png = png.slice(0, 48);
    rows.push({ key: `c${i}`, caption: `a photo of the colour ${name}`, image: png, width: size, height: size });
  }
  const shards: Row[][] = [];
  for (let i = 0; i < rows.length; i += perShard) shards.push(rows.slice(i, i + perShard));
  return writeShards(shards);
}

/** Write a YAML config for the micro model on `shards`; returns [config file, run dir]. */
export function writeConfig(shards: string, patch: { train?: object; data?: object; checkpoint?: object; log?: object; model?: object; eval?: object } = {}): [string, string] {
  const dir = mkdtempSync(path.join(tmpdir(), "clipts-train-"));
  const cfg = {
    model: { name: "micro", ...patch.model },
    data: { train: shards, batch_size: 16, workers: 0, seed: 1, ...patch.data },
    train: { steps: 40, lr: 5e-3, warmup: 4, schedule: "cosine", weight_decay: 0, backend: "cpu", seed: 2, ...patch.train },
    checkpoint: { dir: path.join(dir, "ckpt"), every: 10, keep: 2, ...patch.checkpoint },
    log: { every: 1, tensorboard: path.join(dir, "tb"), ...patch.log },
    ...(patch.eval ? { eval: patch.eval } : {}),
  };
  const file = path.join(dir, "config.yaml");
  writeFileSync(file, stringify(cfg));
  return [file, dir];
}
