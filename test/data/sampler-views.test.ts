// Rows of an Arrow shard, or of a tar parsed on a worker into shared memory,
// keep views of their shard's shared bytes (the decode workers read them in
// place, no copy per image) only while their shard is open or was the last
// one closed: buffered rows of older shards get copies, so a shuffle buffer
// never holds more than two shards. Checked on the stream itself, with
// shards as long as the buffer (the loader's default shape, where most rows
// leave the buffer after their shard has closed).
import { describe, expect, it } from "vitest";
import { SampleStream, type StreamItem } from "../../src/data/sampler.js";
import { listShards } from "../../src/formats/shards.js";
import { writeShards, type Row } from "./loader-fixtures.js";
import { writeTar } from "./fixtures.js";
import { tarManifest } from "../../src/formats/webdataset.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Manifest } from "../../src/formats/types.js";

const SHARDS = 8, ROWS = 30;
const imageOf = (s: number, r: number) => new Uint8Array(64).fill((s * ROWS + r) % 251);

describe("sample stream images", () => {
  for (const kind of ["Arrow shards", "webdataset tars (parsed on a worker)"]) {
    it(`${kind}: rows view shared bytes; at most two shards held through the shuffle buffer; every row's bytes are its own`, async () => {
      let dir: string, manifest: Manifest;
      if (kind === "Arrow shards") {
        const shards: Row[][] = [];
        for (let s = 0; s < SHARDS; s++) {
          shards.push(Array.from({ length: ROWS }, (_, r) => ({ key: `s${s}-${r}`, caption: `c ${s} ${r}`, image: imageOf(s, r), width: 1, height: 1 })));
        }
        dir = writeShards(shards);
        manifest = await listShards(dir);
      } else {
        dir = mkdtempSync(path.join(tmpdir(), "clipts-views-"));
        for (let s = 0; s < SHARDS; s++) {
          const members = Array.from({ length: ROWS }, (_, r) => [{ name: `s${s}-${r}.jpg`, data: Buffer.from(imageOf(s, r)) }, { name: `s${s}-${r}.txt`, data: `c ${s} ${r}` }]).flat();
          await writeTar(path.join(dir, `${String(s).padStart(5, "0")}.tar`), members);
        }
        manifest = tarManifest(dir);
      }
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
  }
});
