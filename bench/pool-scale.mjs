// Pool scale (issue 13): the whole curation pipeline on synthetic webdataset
// pools at sizes 10x apart, each stage run through the CLI as a child under
// /usr/bin/time -v (peak RSS, CPU = user + sys):
//   clipts data ingest (tars -> Arrow shards)
//   -> clipts curate match (shard folder, MetaCLIP metadata from WordNet)
//   -> clipts curate balance (the match sidecar folder -> selection folder)
//   -> clipts curate filter (DFN top 30% of synthetic per-shard score sidecars)
//   -> one Loader pass over the filter's selection (public API, dist/index.js)
//   and, beside them, clipts curate worldwide on synthetic language sidecars
//   (80% en, 20% de; both languages get the WordNet entries), and curate match
//   on the tars in place (no ingest).
// The pool is written as img2dataset writes it: NNNNN.tar of 10,000 samples,
// KEY.jpg (a few hundred distinct tiny real JPEGs, made once with sharp, their
// bytes reused), KEY.txt (a caption built from WordNet glosses in Debian's
// wordnet-base: text that is not ours) and KEY.json (img2dataset's fields).
// Run after `npm run build`, under nice on a shared machine:
//   nice -n 10 node bench/pool-scale.mjs [--work DIR] [--keep] [--stages ingest,match,...] [rows ...]
// (default 200000 2000000). --before-cli PATH also runs the worldwide stage with
// another build's dist/cli/main.js (e.g. main's, for a before/after). STAGE_NODE_FLAGS="--max-old-space-size=128" passes
// flags to every stage's node (a capped heap tells lazy GC from retained state).
// --keep leaves DIR/pool-N in place and a later run reuses what is there.
import { spawnSync } from "node:child_process";
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeSync } from "node:fs";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(here, "dist", "cli", "main.js");
const SHARD = 10_000;
const WORDNET = "/usr/share/wordnet";
const T = 500; // balance threshold (fixed across sizes: memory must not depend on it)
const KEEP_TOP = 0.3;

// --- loader pass (a child of the main run: node bench/pool-scale.mjs --loader-pass SHARDS SELECTION) ---
if (process.argv[2] === "--loader-pass") {
  const api = await import(path.join(here, "dist", "index.js"));
  const [shards, selection] = process.argv.slice(3);
  const tok = await api.loadTokenizer({ kind: "clip", contextLength: 32 });
  const loader = new api.Loader({
    dir: shards, selection: api.openSelection(selection), batchSize: 256, imageSize: 32, contextLength: 32,
    tokenize: (t) => tok.tokenize(t, 32), mode: "train", seed: 0, epochs: 1, workers: 1, dropLast: false,
  });
  let rows = 0;
  for await (const b of loader) {
    rows += b.keys.length;
    b.images.dispose();
    b.tokens.dispose();
  }
  await loader.close();
  console.log(rows);
  process.exit(0);
}

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const flag = (name) => {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) argv.splice(i, 1);
  return i >= 0;
};
const work = opt("work", "/tmp/clipts-pool-scale");
const stagesWanted = opt("stages", "ingest,match,balance,filter,loader,worldwide,match-tars").split(",");
const beforeCli = opt("before-cli", null);
const keep = flag("keep");
const sizes = argv.map(Number);
if (sizes.length === 0) sizes.push(200_000, 2_000_000);
if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`rows must be positive integers: ${argv.join(" ")}`);
if (!existsSync(cli)) throw new Error(`${cli} missing: run npm run build first`);
if (!existsSync(path.join(WORDNET, "data.noun"))) throw new Error(`${WORDNET}/data.noun missing: sudo apt-get install wordnet-base`);
const nodeFlags = process.env.STAGE_NODE_FLAGS ? process.env.STAGE_NODE_FLAGS.split(" ") : [];

// Deterministic pseudo-random numbers (LCG), so a size's pool is the same on every run.
let seed = 1;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

/** WordNet synsets as [first lemma, gloss definition]: caption material. */
function wordnetGlosses() {
  const out = [];
  for (const pos of ["noun", "verb", "adj", "adv"]) {
    for (const line of readFileSync(path.join(WORDNET, `data.${pos}`), "latin1").split("\n")) {
      if (!/^\d/.test(line)) continue; // license header lines start with spaces
      const bar = line.indexOf(" | ");
      if (bar < 0) continue;
      const f = line.slice(0, bar).split(" ");
      const lemma = f[4].replace(/_/g, " ").replace(/\(.*\)$/, "");
      const def = line.slice(bar + 3).split(";")[0].trim();
      if (def) out.push([lemma, def]);
    }
  }
  return out;
}

/** A few hundred distinct tiny JPEGs (noise, 16-48 px a side), made once. */
async function tinyJpegs(n) {
  const sharp = (await import("sharp")).default;
  const out = [];
  for (let i = 0; i < n; i++) {
    const w = 16 + Math.floor(rnd() * 33), h = 16 + Math.floor(rnd() * 33);
    const px = Buffer.alloc(w * h * 3);
    for (let j = 0; j < px.length; j++) px[j] = Math.floor(rnd() * 256);
    out.push({ w, h, bytes: await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 80 }).toBuffer() });
  }
  return out;
}

// ustar member: 512-byte header, data, zero padding to 512.
const HEADER = Buffer.alloc(512);
HEADER.write("0000644\0", 100, "latin1");
HEADER.write("0001750\0", 108, "latin1");
HEADER.write("0001750\0", 116, "latin1");
HEADER.write("14724531200\0", 136, "latin1"); // mtime
HEADER.write("0", 156, "latin1");
HEADER.write("ustar\0" + "00", 257, "latin1");
function tarMember(name, data) {
  const h = Buffer.from(HEADER);
  h.write(name, 0, "latin1");
  h.write(data.length.toString(8).padStart(11, "0") + "\0", 124, "latin1");
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
  const pad = (512 - (data.length % 512)) % 512;
  return [h, data, Buffer.alloc(pad)];
}

/** The pool as img2dataset writes it: NNNNN.tar, KEY = 5-digit shard + 4-digit index. */
async function writePool(dir, rows, glosses, jpegs) {
  mkdirSync(dir, { recursive: true });
  for (let sh = 0; sh * SHARD < rows; sh++) {
    const name = String(sh).padStart(5, "0");
    const fd = openSync(path.join(dir, `${name}.tar.tmp`), "w");
    let parts = [];
    let bytes = 0;
    const flush = () => {
      writeSync(fd, Buffer.concat(parts));
      parts = [];
      bytes = 0;
    };
    const n = Math.min(SHARD, rows - sh * SHARD);
    for (let r = 0; r < n; r++) {
      const key = name + String(r).padStart(4, "0");
      const [lemma, def] = glosses[Math.floor(rnd() * glosses.length)];
      const [, def2] = glosses[Math.floor(rnd() * glosses.length)];
      const caption = rnd() < 0.5 ? `${lemma}: ${def}` : `${lemma}, ${def2}`;
      const img = jpegs[Math.floor(rnd() * jpegs.length)];
      const meta = { url: `https://example.invalid/${key}.jpg`, key, status: "success", error_message: null, caption, width: img.w, height: img.h, original_width: img.w, original_height: img.h, exif: "{}" };
      for (const [ext, data] of [["jpg", img.bytes], ["txt", Buffer.from(caption)], ["json", Buffer.from(JSON.stringify(meta))]]) {
        for (const p of tarMember(`${key}.${ext}`, data)) {
          parts.push(p);
          bytes += p.length;
        }
      }
      if (bytes > 1 << 22) flush();
    }
    parts.push(Buffer.alloc(1024)); // end of archive
    flush();
    closeSync(fd);
    const { renameSync } = await import("node:fs");
    renameSync(path.join(dir, `${name}.tar.tmp`), path.join(dir, `${name}.tar`));
  }
}

/** Synthetic DFN score sidecars, one per ingested shard ({key, shard, row, score}, 1000 distinct values). */
async function writeScores(dir, shardsDir) {
  mkdirSync(dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(path.join(shardsDir, "manifest.json"), "utf8"));
  for (const s of manifest.shards) {
    const file = s.file;
    const w = createWriteStream(path.join(dir, `${path.basename(file, ".arrow")}.scores.jsonl`));
    let buf = "";
    for (let r = 0; r < s.rows; r++) {
      // the key is not read back by the filter's selection (shard, row are); any unique string will do
      buf += `{"key":"${file}:${r}","shard":"${file}","row":${r},"score":${Math.round(rnd() * 1000) / 1000}}\n`;
      if (buf.length > 1 << 20) {
        if (!w.write(buf)) await once(w, "drain");
        buf = "";
      }
    }
    w.end(buf);
    await once(w, "finish");
  }
}

/** Synthetic langid sidecars, one per ingested shard ({row, key, lang, confidence}: 80% en, 20% de). */
async function writeLangs(dir, shardsDir) {
  mkdirSync(dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(path.join(shardsDir, "manifest.json"), "utf8"));
  for (const s of manifest.shards) {
    const w = createWriteStream(path.join(dir, `${path.basename(s.file, ".arrow")}.lang.jsonl`));
    let buf = "";
    for (let r = 0; r < s.rows; r++) {
      buf += `{"row":${r},"key":"${s.file}:${r}","lang":"${rnd() < 0.8 ? "en" : "de"}","confidence":0.9}\n`;
      if (buf.length > 1 << 20) {
        if (!w.write(buf)) await once(w, "drain");
        buf = "";
      }
    }
    w.end(buf);
    await once(w, "finish");
  }
}

function du(p) {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.size;
  let t = 0;
  for (const n of readdirSync(p)) t += du(path.join(p, n));
  return t;
}

/** Run one stage as a child under /usr/bin/time -v. */
function measure(label, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-v", process.execPath, ...nodeFlags, ...args], { cwd: here, encoding: "utf8", maxBuffer: 1 << 26 });
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${label} failed (${args.join(" ")}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-4000)}`);
  const num = (re) => Number(re.exec(r.stderr)[1]);
  return {
    label, wallS,
    rssMB: num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024,
    cpuS: num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/),
    out: r.stdout.trim().split("\n").slice(-1)[0] ?? "",
  };
}

const glosses = wordnetGlosses();
const jpegs = await tinyJpegs(300);
mkdirSync(work, { recursive: true });
const metadata = path.join(work, "metadata.json");
if (!existsSync(metadata)) measure("metadata", [cli, "curate", "metadata", "--wordnet", WORDNET, "--output", metadata]);
console.log(`${glosses.length} WordNet glosses, ${jpegs.length} JPEGs (${Math.round(jpegs.reduce((a, j) => a + j.bytes.length, 0) / jpegs.length)} B mean), metadata ${JSON.parse(readFileSync(metadata, "utf8")).length} entries; stage node flags: ${nodeFlags.join(" ") || "(none)"}`);

const results = [];
for (const n of sizes) {
  const dir = path.join(work, `pool-${n}`);
  const p = (x) => path.join(dir, x);
  seed = n; // the same pool for the same size
  try {
    if (!existsSync(p("pool.ready"))) {
      rmSync(dir, { recursive: true, force: true });
      const t0 = Date.now();
      await writePool(p("pool"), n, glosses, jpegs);
      writeSync(openSync(p("pool.ready"), "w"), "ok");
      console.log(`${n} rows: wrote ${(du(p("pool")) / 2 ** 30).toFixed(2)} GiB of tars in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    const stages = [];
    const run = (name, label, args, outDir) => {
      if (!stagesWanted.includes(name.replace(/-before$/, ""))) return;
      if (outDir) rmSync(outDir, { recursive: true, force: true });
      const s = measure(label, args);
      s.stage = name;
      s.disk = outDir ? du(outDir) : 0;
      stages.push(s);
      console.log(`${String(n).padStart(9)} rows  ${label.padEnd(30)} wall ${s.wallS.toFixed(1).padStart(7)} s  CPU ${s.cpuS.toFixed(1).padStart(7)} s  ${((s.cpuS / n) * 1e6).toFixed(1).padStart(6)} us/row  peak RSS ${s.rssMB.toFixed(0).padStart(5)} MB  out ${(s.disk / 2 ** 20).toFixed(0)} MiB  | ${s.out.slice(0, 100)}`);
    };
    run("ingest", "data ingest", [cli, "data", "ingest", "-i", p("pool"), "-o", p("shards"), "--rows-per-shard", String(SHARD), "--quiet"], p("shards"));
    run("match", "curate match (1 worker)", [cli, "curate", "match", "--metadata", metadata, "--input", p("shards"), "--output", p("matches"), "--workers", "1", "--quiet"], p("matches"));
    run("balance", `curate balance (t=${T})`, [cli, "curate", "balance", "--metadata", metadata, "--matches", p("matches"), "-t", String(T), "--output", p("balanced"), "--quiet"], p("balanced"));
    if (stagesWanted.includes("filter") && !existsSync(p("scores.ready"))) {
      rmSync(p("scores"), { recursive: true, force: true });
      await writeScores(p("scores"), p("shards"));
      writeSync(openSync(p("scores.ready"), "w"), "ok");
    }
    run("filter", `curate filter (top ${KEEP_TOP})`, [cli, "curate", "filter", "--scores", p("scores"), "--keep-top", String(KEEP_TOP), "--output", p("filtered")], p("filtered"));
    run("loader", "loader pass (filter selection)", [fileURLToPath(import.meta.url), "--loader-pass", p("shards"), p("filtered/selection")]);
    if (stagesWanted.includes("worldwide")) {
      const wwMeta = path.join(work, "worldwide-metadata.json");
      if (!existsSync(wwMeta)) {
        const entries = JSON.parse(readFileSync(metadata, "utf8"));
        writeSync(openSync(wwMeta, "w"), JSON.stringify({ en: entries, de: entries }));
      }
      if (!existsSync(p("langs.ready"))) {
        rmSync(p("langs"), { recursive: true, force: true });
        await writeLangs(p("langs"), p("shards"));
        writeSync(openSync(p("langs.ready"), "w"), "ok");
      }
      const args = (c) => [c, "curate", "worldwide", "--metadata", wwMeta, "--input", p("shards"), "--langs", p("langs"), "--t-en", String(T), "--output", p("worldwide"), "--quiet"];
      if (beforeCli) run("worldwide-before", "curate worldwide (before)", args(beforeCli), p("worldwide"));
      run("worldwide", "curate worldwide", args(cli), p("worldwide"));
    }
    // The same matching on the tars in place (no ingest): the sidecar pass reads the tar pool.
    run("match-tars", "curate match on tars (1 worker)", [cli, "curate", "match", "--metadata", metadata, "--input", p("pool"), "--output", p("matches-tars"), "--workers", "1", "--quiet"], p("matches-tars"));
    for (const s of stages) results.push({ rows: n, ...s });
    if (stagesWanted.includes("filter")) console.log(`${n} rows: pool tars ${(du(p("pool")) / n).toFixed(0)} B/row, score sidecars ${(du(p("scores")) / n).toFixed(0)} B/row`);
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

// Summary: each stage at each size against the smallest size (target: RSS within 1.2x, CPU per row flat).
// "marginal" is (CPU - CPU at the smallest size) / (rows - smallest rows): the per-row cost without
// each child's fixed start-up (node, modules, metadata: ~0.5-1 s), which dominates small runs.
const lo = Math.min(...sizes);
console.log("\n| rows | stage | wall s | CPU s | CPU us/row | marginal us/row | peak RSS MB | RSS vs smallest |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of results) {
  const base = results.find((b) => b.rows === lo && b.stage === r.stage);
  const ratio = base ? `${(r.rssMB / base.rssMB).toFixed(2)}x` : "-";
  const marginal = base && r.rows > lo ? (((r.cpuS - base.cpuS) / (r.rows - lo)) * 1e6).toFixed(1) : "-";
  console.log(`| ${r.rows} | ${r.label} | ${r.wallS.toFixed(1)} | ${r.cpuS.toFixed(1)} | ${((r.cpuS / r.rows) * 1e6).toFixed(1)} | ${marginal} | ${r.rssMB.toFixed(0)} | ${ratio} |`);
}
