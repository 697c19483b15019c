// Benchmark: shards holding images past Arrow Binary's 2 GiB per record batch.
// N images of 32 MiB each (70 = 2.2 GiB, the audit's case) go through
// ShardWriter with default settings; every image is read back and its length
// and first byte checked, and `verifyShards` runs. Reference: writing the same
// bytes to one file with fs.writeFile and hashing them (the minimum I/O).
// Run: node --import tsx bench/shard-bytes.mjs [N=70] [shards module=../src/formats/shards.ts]
// (pass /work/main/src/formats/shards.ts as the module to see the old writer's loss).
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const n = Number(process.argv[2] ?? 70);
const mod = await import(process.argv[3] ?? path.resolve(here, "../src/formats/shards.ts"));
const SIZE = 32 * 2 ** 20;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const image = (i) => {
  const b = Buffer.alloc(SIZE, i & 255);
  b[SIZE - 1] = (i * 7) & 255;
  return b;
};

// Reference: the same bytes written and hashed.
const refDir = mkdtempSync(path.join(os.tmpdir(), "clipts-bench-bytes-ref-"));
let c0 = cpu();
let t0 = performance.now();
for (let i = 0; i < n; i++) {
  const b = image(i);
  writeFileSync(path.join(refDir, `${i}.bin`), b);
  createHash("sha256").update(b).digest("hex");
}
const ref = { cpu: cpu() - c0, wall: (performance.now() - t0) / 1000 };
rmSync(refDir, { recursive: true, force: true });

const dir = mkdtempSync(path.join(os.tmpdir(), "clipts-bench-bytes-"));
c0 = cpu();
t0 = performance.now();
let result;
try {
  const w = new mod.ShardWriter(dir, { rowsPerShard: 1000 });
  await w.start();
  for (let i = 0; i < n; i++) await w.add({ key: `k${i}`, caption: `image ${i}`, image: image(i), width: 1, height: 1 });
  const m = await w.finish();
  const write = { cpu: cpu() - c0, wall: (performance.now() - t0) / 1000 };
  let ok = 0, empty = 0, wrong = 0, i = 0;
  for (const s of m.shards) {
    const sh = await mod.openShard(path.join(dir, s.file), { expectedRows: s.rows });
    for (let r = 0; r < sh.numRows; r++, i++) {
      const img = sh.get(r).image;
      if (img.byteLength === 0) empty++;
      else if (img.byteLength === SIZE && img[0] === (i & 255) && img[SIZE - 1] === ((i * 7) & 255)) ok++;
      else wrong++;
    }
  }
  const v = await mod.verifyShards(dir);
  result = { rows: m.rows, shards: m.shards.length, skipped: m.skipped.count, readBackOk: ok, empty, wrong, verifyOk: v.ok, problems: v.problems.length, write };
} catch (err) {
  result = { crashed: `${err?.code ?? ""} ${err?.message ?? err}`.trim() };
}
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ n, imageMiB: SIZE / 2 ** 20, ...result, reference: ref, cpuRatio: result.write ? +(result.write.cpu / ref.cpu).toFixed(2) : null }));
