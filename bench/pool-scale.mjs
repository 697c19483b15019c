// Pool-scale memory/time of the stages issue 13 made streaming, at two pool sizes
// 10x apart: `curate filter` (DFN top fraction over per-shard score sidecars,
// before = main's in-memory filter when CLIPTS_BEFORE points at its src, after =
// this tree's streaming filter) and the loader's selection path (open the
// selection folder, read each shard's row list as the loader does). Each stage
// runs as a child under /usr/bin/time -v; peak RSS and CPU time (user+sys) are
// read from it. Synthetic scores: 1000 distinct values (heavy ties), shards of
// 10,000 rows. Usage: node bench/pool-scale.mjs [rows ...] (default 200000 2000000)
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, createWriteStream } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import path from "node:path";

const SHARD = 10_000;
const sizes = process.argv.slice(2).map(Number);
if (sizes.length === 0) sizes.push(200_000, 2_000_000);
const here = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const before = process.env.CLIPTS_BEFORE; // e.g. /work/main/src

async function writeScores(dir, rows) {
  mkdirSync(dir, { recursive: true });
  let s = 1;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let sh = 0; sh * SHARD < rows; sh++) {
    const shard = `shard-${String(sh).padStart(6, "0")}.arrow`;
    const w = createWriteStream(path.join(dir, `shard-${String(sh).padStart(6, "0")}.scores.jsonl`));
    const n = Math.min(SHARD, rows - sh * SHARD);
    let buf = "";
    for (let r = 0; r < n; r++) {
      buf += `{"key":"k${sh}-${r}","shard":"${shard}","row":${r},"score":${Math.round(rnd() * 1000) / 1000}}\n`;
      if (buf.length > 1 << 20) {
        if (!w.write(buf)) await once(w, "drain");
        buf = "";
      }
    }
    w.end(buf);
    await once(w, "finish");
  }
}

function measure(label, code) {
  const r = spawnSync("/usr/bin/time", ["-v", process.execPath, ...(process.env.STAGE_NODE_FLAGS ? process.env.STAGE_NODE_FLAGS.split(" ") : []), "--import", "tsx", "--input-type=module", "-e", code], { cwd: here, encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${label} failed:\n${r.stderr}`);
  const num = (re) => Number(re.exec(r.stderr)[1]);
  return { label, rssMB: num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024, cpuS: num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/), out: r.stdout.trim() };
}

const rowsOut = [];
for (const n of sizes) {
  const work = mkdtempSync(path.join(tmpdir(), "clipts-pool-scale-"));
  try {
    const scores = path.join(work, "scores");
    await writeScores(scores, n);
    const stages = [];
    if (before) stages.push(measure("filter (before: in memory)", `import { filterScores } from ${JSON.stringify(path.join(before, "curation/dfn-filter.ts"))}; const r = await filterScores({ scores: ${JSON.stringify(scores)}, keepTop: 0.3, output: ${JSON.stringify(path.join(work, "before"))} }); console.log(r.kept);`));
    stages.push(measure("filter (streaming)", `import { filterScores } from "./src/curation/dfn/filter.ts"; const r = await filterScores({ scores: ${JSON.stringify(scores)}, keepTop: 0.3, output: ${JSON.stringify(path.join(work, "after"))} }); console.log(r.kept);`));
    stages.push(measure("selection read (per shard)", `import { openSelection } from "./src/formats/selection.ts"; const s = openSelection(${JSON.stringify(path.join(work, "after", "selection"))}); let t = 0; for (const f of s.shards()) t += s.rows(f).length; console.log(t);`));
    for (const s of stages) rowsOut.push({ rows: n, ...s });
    for (const s of stages) console.log(`${String(n).padStart(9)} rows  ${s.label.padEnd(28)} peak RSS ${s.rssMB.toFixed(0).padStart(5)} MB  CPU ${s.cpuS.toFixed(1).padStart(6)} s  (${((s.cpuS / n) * 1e6).toFixed(2)} us/row)  kept ${s.out}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
// Ratios of the largest size to the smallest, per stage: memory should stay flat, CPU time per row flat.
const lo = Math.min(...sizes), hi = Math.max(...sizes);
for (const label of new Set(rowsOut.map((r) => r.label))) {
  const a = rowsOut.find((r) => r.rows === lo && r.label === label), b = rowsOut.find((r) => r.rows === hi && r.label === label);
  if (a && b && lo !== hi) console.log(`${label}: peak RSS ${hi}/${lo} rows = ${(b.rssMB / a.rssMB).toFixed(2)}x, CPU per row ${(b.cpuS / hi / (a.cpuS / lo)).toFixed(2)}x`);
}
