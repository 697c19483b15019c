// Worldwide curation on the demo pool, end to end (after `npm run build`):
// eld's labels against the demo's ground-truth `lang` column (per language),
// langid throughput, per-language thresholds, kept rows, and upsampled shares.
// Run: node bench/langid-demo.mjs [DEMO_DIR] [MAX_CONCEPTS]
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { buildDemoShards } from "../dist/data/demo-shards.js";
import { listShards, readShard } from "../dist/formats/shards.js";
import { langidShards, LangSidecars } from "../dist/curation/worldwide/langid.js";
import { demoWorldwideMetadata } from "../dist/data/demo-worldwide.js";
import { worldwideCurate } from "../dist/curation/worldwide/curate.js";
import { upsampleWeights, upsampleSelection } from "../dist/curation/worldwide/upsample.js";
import { writeJsonAtomic } from "../dist/util/atomic.js";

const demo = process.argv[2] ?? "runs/worldwide-demo/demo";
const maxConcepts = Number(process.argv[3] ?? 200);
const shards = path.join(demo, "shards", "train");
if (!existsSync(path.join(shards, "manifest.json"))) await buildDemoShards({ output: demo, maxConcepts, numClasses: 20, imageSize: 16, quiet: true });
const work = path.join(path.dirname(demo));
mkdirSync(work, { recursive: true });
const langs = path.join(work, "langs");
const t0 = process.hrtime.bigint();
const lr = await langidShards({ shards, output: langs, quiet: true });
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`langid: ${lr.stats.rows} rows in ${secs.toFixed(2)} s (${(lr.stats.rows / secs).toFixed(0)} rows/s incl. shard reading)`);
const table = await LangSidecars.open(langs);
const per = new Map();
const manifest = await listShards(shards);
for (const s of manifest.shards) {
  for await (const { row, sample } of readShard(path.join(shards, s.file))) {
    const truth = sample.lang ?? "und", got = table.langOf(s.file, row);
    const st = per.get(truth) ?? { n: 0, ok: 0, as: {} };
    st.n++;
    if (got === truth) st.ok++;
    else st.as[got] = (st.as[got] ?? 0) + 1;
    per.set(truth, st);
  }
}
for (const [l, st] of [...per].sort()) {
  const top = Object.entries(st.as).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, v]) => `${k}:${v}`).join(" ");
  console.log(`  truth ${l}: ${st.n} rows, eld agrees ${(100 * st.ok / st.n).toFixed(1)}%  (else ${top})`);
}
const meta = path.join(work, "metadata.json");
await writeJsonAtomic(meta, demoWorldwideMetadata());
const r = await worldwideCurate({ metadata: meta, shards, langs, output: path.join(work, "balanced"), tEn: 4, seed: 0, quiet: true });
console.log(`thresholds: p = ${r.thresholds.p.toFixed(4)}, t = ${JSON.stringify(r.thresholds.t)}`);
for (const [l, s] of Object.entries(r.perLang).sort()) console.log(`  ${l}: rows ${s.rows}, matched ${s.matched}, kept ${s.kept}`);
const counts = {};
for (const k of r.kept) counts[k.lang] = (counts[k.lang] ?? 0) + 1;
const w = upsampleWeights(counts, { ja: 0.25, zh: 0.25 });
const sel = upsampleSelection(r.kept, w, 0);
await writeJsonAtomic(path.join(work, "upsampled", "selection.json"), sel);
const keptSet = new Set(Object.entries(sel).flatMap(([f, rows]) => rows.map((x) => `${f}:${x}`)));
const got = {};
for (const k of r.kept) if (keptSet.has(`${k.shard}:${k.row}`)) got[k.lang] = (got[k.lang] ?? 0) + 1;
const tot = Object.values(got).reduce((a, b) => a + b, 0);
console.log(`upsample ja, zh -> 25%: ${tot} of ${r.kept.length} rows; shares ${Object.entries(got).sort().map(([l, n]) => `${l} ${(100 * n / tot).toFixed(1)}% (natural ${(100 * counts[l] / r.kept.length).toFixed(1)}%)`).join(", ")}`);
