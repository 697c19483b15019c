// Language identification on short captions: accuracy and speed of eld, franc
// and cld3-asm on labelled multilingual captions (emojibase-data labels in ~30
// languages; optionally Debian tuxpaint-stamps-default captions when installed).
// Run: node bench/langid.mjs   (candidates not saved in package.json need
// `npm install --no-save franc@6.2.0 cld3-asm@4.0.0`).
import { readFileSync, readdirSync, existsSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const root = path.dirname(require.resolve("emojibase-data/package.json"));
const norm = (d) => ({ "en-gb": "en", "es-mx": "es", "zh-hant": "zh" })[d] ?? d;

function emojibaseSample(perLang) {
  const out = [];
  for (const d of readdirSync(root).sort()) {
    const f = path.join(root, d, "data.json");
    if (!existsSync(f)) continue;
    const seen = new Set();
    for (const e of JSON.parse(readFileSync(f, "utf8"))) {
      if (typeof e.label !== "string" || seen.has(e.label) || e.type !== 1) continue;
      seen.add(e.label);
      if (seen.size <= perLang) out.push({ lang: norm(d), text: e.label, src: "emojibase" });
    }
  }
  return out;
}

// tuxpaint-stamps: <stamp>.txt files, first line English, then "xx=caption" lines.
function tuxpaintSample(perLang) {
  const dir = "/usr/share/tuxpaint/stamps";
  if (!existsSync(dir)) return [];
  const out = [], per = new Map();
  const walk = (d) => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, n.name);
      if (n.isDirectory()) walk(p);
      else if (n.name.endsWith(".txt")) {
        const lines = readFileSync(p, "utf8").split("\n");
        for (const line of [`en=${lines[0]}`, ...lines.slice(1)]) {
          const m = /^([a-z]{2,3})(?:_[A-Za-z]+)?(?:\.utf-?8)?=(.+)$/i.exec(line.trim());
          if (!m) continue;
          const lang = m[1], c = per.get(lang) ?? 0;
          if (c >= perLang) continue;
          per.set(lang, c + 1);
          out.push({ lang, text: m[2].trim(), src: "tuxpaint" });
        }
      }
    }
  };
  walk(dir);
  return out;
}

// franc speaks ISO 639-3; map to the 639-1 codes of the samples.
const ISO3 = { eng: "en", deu: "de", fra: "fr", spa: "es", ita: "it", por: "pt", nld: "nl", dan: "da", swe: "sv", nob: "nb",
  fin: "fi", est: "et", hun: "hu", lit: "lt", pol: "pl", rus: "ru", ukr: "uk", jpn: "ja", cmn: "zh", kor: "ko", tha: "th",
  vie: "vi", hin: "hi", ben: "bn", zlm: "ms", ind: "id", ces: "cs", slk: "sk", ell: "el", tur: "tr", arb: "ar", heb: "he",
  cat: "ca", ron: "ro", hrv: "hr", srp: "sr", bul: "bg", slv: "sl", lav: "lv", glg: "gl", eus: "eu", afr: "af", tam: "ta",
  tel: "te", mar: "mr", pes: "fa", urd: "ur", swh: "sw", tgl: "tl", nno: "nn", gle: "ga", cym: "cy", isl: "is", sqi: "sq", mkd: "mk", bel: "be", kat: "ka", hye: "hy" };

async function candidates() {
  const c = [];
  const { eld } = await import("eld/large");
  c.push({ name: "eld@2.1.0 (large)", supports: (l) => Object.values(eld.info().Languages).includes(l), detect: (t) => eld.detect(t).language });
  try {
    const { eld: eldm } = await import("eld/medium");
    c.push({ name: "eld@2.1.0 (medium)", supports: (l) => Object.values(eldm.info().Languages).includes(l), detect: (t) => eldm.detect(t).language });
  } catch {}
  try {
    const { franc } = await import("franc");
    c.push({ name: "franc@6.2.0 (minLength 1)", supports: (l) => Object.values(ISO3).includes(l), detect: (t) => ISO3[franc(t, { minLength: 1 })] ?? "" });
  } catch {}
  try {
    const { loadModule } = await import("cld3-asm");
    const id = (await loadModule()).create(0, 1000);
    c.push({ name: "cld3-asm@4.0.0", supports: () => true, detect: (t) => { const r = id.findLanguage(t); return r.language === "und" ? "" : ({ iw: "he", no: "nb", fil: "tl" })[r.language.replace(/-.*/, "")] ?? r.language.replace(/-.*/, ""); } });
  } catch {}
  return c;
}

const per = Number(process.argv[2] ?? 300);
const sample = [...emojibaseSample(per), ...tuxpaintSample(per)];
const cands = await candidates();
console.log(`sample: ${sample.length} captions (${new Set(sample.map((s) => s.src + ":" + s.lang)).size} source:language pairs), mean ${(sample.reduce((a, s) => a + s.text.length, 0) / sample.length).toFixed(1)} chars`);
// Accuracy on the languages every candidate can output (a fair comparison).
const common = new Set(sample.map((s) => s.lang).filter((l) => cands.every((c) => c.supports(l))));
console.log(`languages every candidate supports: ${common.size} (${[...common].sort().join(" ")})`);
for (const c of cands) {
  for (const s of sample.slice(0, 200)) c.detect(s.text); // warm up
  const stats = new Map();
  let ok = 0, n = 0, okC = 0, nC = 0;
  const t0 = process.hrtime.bigint();
  const got = sample.map((s) => c.detect(s.text));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  sample.forEach((s, i) => {
    if (common.has(s.lang)) { nC++; if (got[i] === s.lang) okC++; }
    if (!c.supports(s.lang)) return;
    const k = `${s.src}:${s.lang}`, st = stats.get(k) ?? [0, 0];
    st[1]++; n++;
    if (got[i] === s.lang) { st[0]++; ok++; }
    stats.set(k, st);
  });
  const worst = [...stats].map(([k, [a, b]]) => [k, a / b]).sort((x, y) => x[1] - y[1]).slice(0, 6).map(([k, a]) => `${k}=${(a * 100).toFixed(0)}%`).join(" ");
  console.log(`${c.name.padEnd(28)} common-langs acc ${(100 * okC / nC).toFixed(1)}% (${nC}) | acc ${(100 * ok / n).toFixed(1)}% on ${n} supported (${stats.size} langs) | ${(sample.length / secs).toFixed(0)} captions/s | worst: ${worst}`);
  if (process.env.PER_LANG) console.log([...stats].sort().map(([k, [a, b]]) => `${k}=${(100 * a / b).toFixed(0)}`).join(" "));
}
