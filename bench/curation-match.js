// Benchmark: `clipts curate match` (one worker) against a Python reference with
// the same semantics (MetaCLIP spacing + pyahocorasick), whole process each, on
// ~87k WordNet entries and >= 500k real captions (WordNet glosses and examples).
// Also: automaton build time and memory for 87k and 500k entries, both sides,
// and agreement of the two outputs on every line.
// Run after `npm run build`: node bench/curation-match.js [workdir]
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, createWriteStream, existsSync } from "node:fs";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const work = process.argv[2] ?? "/tmp/clipts-bench-curation";
const cli = path.join(root, "dist/cli/main.js");
const ref = path.join(root, "bench/curation-match-ref.py");
const PY = "/usr/bin/python3";
const WN = "/usr/share/wordnet";
const REPEATS = Number(process.env.REPEATS ?? 3);
mkdirSync(work, { recursive: true });
if (!existsSync(cli)) throw new Error("run `npm run build` first");

// ---- data -----------------------------------------------------------------
const synsetLines = [];
for (const pos of ["noun", "verb", "adj", "adv"]) {
  for (const l of readFileSync(path.join(WN, `data.${pos}`), "utf8").split("\n")) {
    if (l && !l.startsWith("  ")) synsetLines.push(l);
  }
}
const glosses = synsetLines.map((l) => l.slice(l.indexOf(" | ") + 3).trim());
const parts = glosses.flatMap((g) => g.split(";").map((p) => p.trim().replace(/^"|"$/g, "")).filter(Boolean));

const meta87 = path.join(work, "metadata-wordnet.json");
execFileSync("node", [cli, "curate", "metadata", "--wordnet", WN, "--output", meta87], { stdio: "ignore" });
const entries87 = JSON.parse(readFileSync(meta87, "utf8"));

// 500k entries: all WordNet lemmas, then bigrams of consecutive gloss words.
const meta500 = path.join(work, "metadata-500k.json");
{
  const set = new Set(entries87);
  for (const l of synsetLines) {
    const f = l.split(" ");
    const w = parseInt(f[3], 16);
    for (let i = 0; i < w; i++) set.add(f[4 + 2 * i].replace(/\((a|p|ip)\)$/, "").replace(/_/g, " "));
  }
  outer: for (const g of parts) {
    const words = g.split(/[\s,.;:?!`()"]+/).filter(Boolean);
    for (let i = 0; i + 1 < words.length; i++) {
      set.add(`${words[i]} ${words[i + 1]}`);
      if (set.size >= 500_000) break outer;
    }
  }
  writeFileSync(meta500, JSON.stringify([...set].slice(0, 500_000)));
}

// Captions: gloss parts, whole glosses with examples, and runs of 2 and 3 consecutive parts.
const texts = path.join(work, "captions.jsonl");
let nTexts = 0;
{
  const out = createWriteStream(texts);
  const put = async (t) => {
    if (!out.write(JSON.stringify({ key: `c${nTexts++}`, text: t }) + "\n")) await once(out, "drain");
  };
  for (const p of parts) await put(p);
  for (const g of glosses) await put(g);
  for (let i = 0; i + 1 < parts.length; i++) await put(`${parts[i]}. ${parts[i + 1]}`);
  for (let i = 0; i + 2 < parts.length; i += 1) await put(`${parts[i]}, ${parts[i + 1]}; ${parts[i + 2]}`);
  out.end();
  await once(out, "close");
}

// ---- measurement helpers ----------------------------------------------------
/** Run a command under /usr/bin/time: wall, CPU (user+sys) seconds, max RSS. */
function timed(cmd, args) {
  const r = spawnSync("/usr/bin/time", ["-f", "TIME %e %U %S %M", cmd, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed:\n${r.stderr}`);
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  return { wall: +m[1], cpu: +m[2] + +m[3], rssMB: +m[4] / 1024, stdout: r.stdout };
}

const fmt = (x, d = 2) => x.toFixed(d);
console.log(`captions: ${nTexts} (${texts}); entries: ${entries87.length} WordNet (+ "0".."99"), 500,000 synthetic`);
console.log(`machine load average at start: ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join(" ")}`);

// ---- matching throughput ----------------------------------------------------
const tsOut = path.join(work, "matches-ts.jsonl"), pyOut = path.join(work, "matches-py.jsonl");
const runs = { ts: [], py: [] };
for (let k = 0; k < REPEATS; k++) {
  runs.ts.push(timed("node", [cli, "curate", "match", "--metadata", meta87, "--input", texts, "--output", tsOut, "--workers", "1", "--quiet"]));
  runs.py.push(timed(PY, [ref, "match", meta87, texts, pyOut]));
}
const best = (rs, key) => Math.min(...rs.map((r) => r[key]));
console.log("\nmatching, whole process, one core (best of " + REPEATS + "; CPU = user+sys, robust to a shared machine)");
console.log("side        wall s   CPU s   texts/s(wall)  texts/s(CPU)  peak RSS MB");
for (const [name, rs] of [["clipts", runs.ts], ["python ref", runs.py]]) {
  const w = best(rs, "wall"), c = best(rs, "cpu");
  console.log(`${name.padEnd(10)} ${fmt(w).padStart(7)} ${fmt(c).padStart(7)} ${fmt(nTexts / w, 0).padStart(14)} ${fmt(nTexts / c, 0).padStart(13)} ${fmt(best(rs, "rssMB"), 0).padStart(12)}`);
}
console.log(`ratio clipts/python: wall ${fmt(best(runs.py, "wall") / best(runs.ts, "wall"))}x, CPU ${fmt(best(runs.py, "cpu") / best(runs.ts, "cpu"))}x faster`);

// ---- agreement ---------------------------------------------------------------
const a = readFileSync(tsOut, "utf8").split("\n"), b = readFileSync(pyOut, "utf8").split("\n");
let same = 0, diff = 0, firstDiff = -1;
for (let i = 0; i < Math.max(a.length, b.length); i++) {
  if (a[i] === b[i]) same++;
  else {
    diff++;
    if (firstDiff < 0) firstDiff = i;
  }
}
console.log(`agreement: ${same} of ${Math.max(a.length, b.length)} output lines identical, ${diff} differ` + (diff ? ` (first at line ${firstDiff + 1}: ${a[firstDiff]} vs ${b[firstDiff]})` : ""));

// ---- build time and memory ---------------------------------------------------
const buildScript = path.join(work, "build-only.mjs");
writeFileSync(buildScript, `
import { readFileSync } from "node:fs";
import { buildMatcher } from ${JSON.stringify(path.join(root, "dist/curation/index.js"))};
const entries = JSON.parse(readFileSync(process.argv[2], "utf8"));
globalThis.gc?.();
const rss0 = process.memoryUsage().rss, heap0 = process.memoryUsage().heapUsed;
const t0 = performance.now();
const m = buildMatcher(entries);
const s = (performance.now() - t0) / 1000;
const mu = process.memoryUsage();
console.log(JSON.stringify({ entries: entries.length, states: m.states, build_s: s, automatonMB: m.bytes / 2**20,
  rssGrowthMB: (mu.rss - rss0) / 2**20, heapGrowthMB: (mu.heapUsed - heap0) / 2**20, probe: m.match("a dog and a cat").length }));
`);
console.log("\nautomaton build (best of " + REPEATS + "), memory");
for (const meta of [meta87, meta500]) {
  const ts = [], py = [];
  for (let k = 0; k < REPEATS; k++) {
    const t = timed("node", ["--expose-gc", buildScript, meta]);
    ts.push({ ...JSON.parse(t.stdout), peakRssMB: t.rssMB });
    const p = timed(PY, [ref, "build", meta]);
    py.push({ ...JSON.parse(p.stdout), peakRssMB: p.rssMB });
  }
  const t = ts.reduce((x, y) => (y.build_s < x.build_s ? y : x)), p = py.reduce((x, y) => (y.build_s < x.build_s ? y : x));
  console.log(`${t.entries} entries: clipts build ${fmt(t.build_s)} s, ${t.states} states, typed arrays ${fmt(t.automatonMB, 1)} MB, ` +
    `RSS growth ${fmt(t.rssGrowthMB, 0)} MB, heap growth ${fmt(t.heapGrowthMB, 0)} MB, process peak RSS ${fmt(t.peakRssMB, 0)} MB | ` +
    `python build ${fmt(p.build_s)} s, process peak RSS ${fmt(p.peakRssMB, 0)} MB (before build ${fmt(p.rss_before_build_mb, 0)} MB)`);
}
