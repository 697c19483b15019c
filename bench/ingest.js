// Benchmark: `clipts data ingest` on real images (CIFAR-10 test, 10,000 JPEGs
// 32x32 in class folders, from ../shared/data), as a class folder and as a
// webdataset tar, against a Python/PIL reference doing the minimum the same
// check needs: read every file, open it, decode it fully, take its size.
// Run after `npm run build`: node bench/ingest.js [limit]
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const tarFile = path.resolve(here, "../../shared/data/cifar10/test.tar");
const alt = "/work/shared/data/cifar10/test.tar";
const source = existsSync(tarFile) ? tarFile : alt;
if (!existsSync(source)) {
  console.error(`bench/ingest: ${tarFile} not found (CIFAR-10 from ../shared/data)`);
  process.exit(1);
}
const { ingest } = await import(path.resolve(here, "../dist/data/ingest.js"));
const { verifyShards } = await import(path.resolve(here, "../dist/formats/shards.js"));

const work = mkdtempSync(path.join(os.tmpdir(), "clipts-bench-ingest-"));
execFileSync("tar", ["-xf", source, "-C", work]);
const folder = path.join(work, "test");
const files = readdirSync(folder).flatMap((c) => readdirSync(path.join(folder, c)).map((f) => path.join(c, f)));
const n = files.length;

// The same images as a webdataset tar (KEY.jpg + KEY.txt), packed by Python's tarfile.
const wdsDir = path.join(work, "wds");
const py = (script, ...args) => execFileSync("/usr/bin/python3", ["-c", script, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
py(
  `import os, sys, tarfile, io
root, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
with tarfile.open(os.path.join(out, "00000.tar"), "w") as t:
    for i, (c, f) in enumerate(sorted((c, f) for c in os.listdir(root) for f in os.listdir(os.path.join(root, c)))):
        key = "%09d" % i
        t.add(os.path.join(root, c, f), arcname=key + ".jpg")
        cap = ("a photo of a " + c).encode()
        ti = tarfile.TarInfo(key + ".txt"); ti.size = len(cap)
        t.addfile(ti, io.BytesIO(cap))`,
  folder,
  wdsDir,
);

// Reference: PIL decode + size over the folder and over the tar.
const ref = JSON.parse(
  py(
    `import os, sys, time, json, tarfile, io
from PIL import Image, ImageOps
root, tarpath = sys.argv[1], sys.argv[2]
t0 = time.perf_counter(); c0 = time.process_time(); n = 0
for c in sorted(os.listdir(root)):
    for f in sorted(os.listdir(os.path.join(root, c))):
        with open(os.path.join(root, c, f), "rb") as fh: data = fh.read()
        im = Image.open(io.BytesIO(data)); im.load(); w, h = ImageOps.exif_transpose(im).size; n += 1
folder_s = time.perf_counter() - t0; folder_cpu = time.process_time() - c0
t0 = time.perf_counter(); c0 = time.process_time(); m = 0
with tarfile.open(tarpath) as t:
    for member in t:
        if member.name.endswith(".jpg"):
            im = Image.open(io.BytesIO(t.extractfile(member).read())); im.load(); w, h = ImageOps.exif_transpose(im).size; m += 1
print(json.dumps({"folder_s": folder_s, "folder_cpu": folder_cpu, "n": n, "wds_s": time.perf_counter() - t0, "wds_cpu": time.process_time() - c0, "m": m}))`,
    folder,
    path.join(wdsDir, "00000.tar"),
  ),
);

// Wall time and process CPU time (libvips worker threads included): the
// machine is shared, so CPU seconds are the steadier comparison.
async function timed(label, fn) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await fn();
  const c = process.cpuUsage(c0);
  return { label, s: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6, r };
}
const outA = path.join(work, "out-folder");
const outB = path.join(work, "out-wds");
const a = await timed("folder", () => ingest({ input: folder, output: outA, rowsPerShard: 1000, quiet: true }));
const b = await timed("wds", () => ingest({ input: wdsDir, output: outB, rowsPerShard: 1000, quiet: true }));
const v = await timed("verify", () => verifyShards(outA));
const size = (d) => readdirSync(d).reduce((s, f) => s + statSync(path.join(d, f)).size, 0);

console.log(`images: ${n} CIFAR-10 test JPEGs (32x32), ${os.cpus().length} CPUs (shared)`);
console.log("what                      clipts wall s  img/s  cpu s | PIL ref wall s  img/s  cpu s | ratio wall  cpu");
const f = (x, w = 6) => x.toFixed(2).padStart(w);
const row = (what, ours, theirs) =>
  console.log(
    `${what.padEnd(26)} ${f(ours.s, 12)} ${(n / ours.s).toFixed(0).padStart(6)} ${f(ours.cpu)} | ${f(theirs.s, 14)} ${(n / theirs.s).toFixed(0).padStart(6)} ${f(theirs.cpu)} | ${f(ours.s / theirs.s, 10)} ${f(ours.cpu / theirs.cpu, 4)}`,
  );
row("class folder -> shards", a, { s: ref.folder_s, cpu: ref.folder_cpu });
row("webdataset tar -> shards", b, { s: ref.wds_s, cpu: ref.wds_cpu });
console.log(`rows: folder ${a.r.manifest.rows} (skipped ${a.r.manifest.skipped.count}), wds ${b.r.manifest.rows} (skipped ${b.r.manifest.skipped.count}); ref decoded ${ref.n} + ${ref.m}`);
console.log(`verify (sha256 + open every shard): ${v.s.toFixed(2)} s, ok=${v.r.ok}; shards ${(size(outA) / 1e6).toFixed(1)} MB`);
console.log("(clipts writes Arrow shards, hashes them and decodes each image at <=32 px; the reference only decodes.)");
writeFileSync(path.join(work, "done"), "");
rmSync(work, { recursive: true, force: true });
