// Rows of an Arrow shard keep views of the shard's shared bytes (the decode
// workers read them in place, no copy per image) only while their shard is
// open or was the last one closed: buffered rows of older shards get copies,
// so a shuffle buffer never holds more than two shards. Checked on the
// stream itself, with shards as long as the buffer (the loader's default
// shape, where most rows leave the buffer after their shard has closed).
import { describe, expect, it } from "vitest";
import { SampleStream, type StreamItem } from "../../src/data/sampler.js";
import { listShards } from "../../src/formats/shards.js";
import { writeShards, type Row } from "./loader-fixtures.js";

describe("sample stream images", () => {
  it("holds at most two shards' bytes through the shuffle buffer; every row's bytes are its own", async () => {
    const SHARDS = 8, ROWS = 30;
    const shards: Row[][] = [];
    for (let s = 0; s < SHARDS; s++) {
      shards.push(Array.from({ length: ROWS }, (_, r) => ({ key: `s${s}-${r}`, caption: `c ${s} ${r}`, image: new Uint8Array(64).fill((s * ROWS + r) % 251), width: 1, height: 1 })));
    }
    const dir = writeShards(shards);
    const manifest = await listShards(dir);
    const stream = SampleStream.start(dir, manifest, {
      seed: 4, shuffle: true, shuffleBuffer: ROWS, resampled: false, rank: 0, worldSize: 1, splitBy: "shard", epochs: 2,
    });
    const buffer = () => (stream as unknown as { buffer: StreamItem[] }).buffer;
    let maxHeld = 0, views = 0, copies = 0, n = 0;
    for (let it = await stream.next(); it; it = await stream.next()) {
      n++;
      // The row's bytes are its own row's, view or copy.
      const [s, r] = it.key!.slice(1).split("-").map(Number);
      expect(it.image!.length).toBe(64);
      expect(it.image!.every((b) => b === (s! * ROWS + r!) % 251)).toBe(true);
      if (it.image!.buffer instanceof SharedArrayBuffer) views++;
      else copies++;
      const held = new Set(buffer().map((b) => b.image!.buffer).filter((b) => b instanceof SharedArrayBuffer));
      maxHeld = Math.max(maxHeld, held.size);
    }
    expect(n).toBe(2 * SHARDS * ROWS);
    expect(maxHeld).toBeLessThanOrEqual(2);
    // Most rows are handed out as views; the copies are the stragglers.
    expect(views).toBeGreaterThan(copies);
    expect(copies).toBeGreaterThan(0);
  });
});
