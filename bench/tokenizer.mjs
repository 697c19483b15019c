#!/usr/bin/env node
// Benchmark: CLIP tokenization throughput of clipts (src/text, on
// @huggingface/tokenizers) against a pure-Python reference of OpenAI's
// simple_tokenizer (bench/tokenizer_ref.py), on ~100k WordNet glosses; plus
// id agreement on 1000 glosses and on multilingual emoji labels (emojibase).
// Run after `npm run build`:  node bench/tokenizer.mjs [N=100000] [VOCAB.gz]
import { readFileSync, writeFileSync, mkdtempSync, rmSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadTokenizer } from "../dist/text/index.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const N = Number(process.argv[2] ?? 100_000);
const vocabGz = process.argv[3] ?? [path.join(root, "../shared/data/bpe_simple_vocab_16e6.txt.gz"), "/work/shared/data/bpe_simple_vocab_16e6.txt.gz"].find(existsSync);
if (!vocabGz) throw new Error("bpe_simple_vocab_16e6.txt.gz not found: pass its path as the second argument");

// WordNet glosses: the text after "| " on each synset line.
function glosses(limit) {
  const out = [];
  for (const pos of ["noun", "verb", "adj", "adv"]) {
    const file = `/usr/share/wordnet/data.${pos}`;
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "latin1").split("\n")) {
      if (line.startsWith("  ")) continue; // license header
      const bar = line.indexOf(" | ");
      if (bar >= 0) out.push(line.slice(bar + 3).trim());
      if (out.length >= limit) return out;
    }
  }
  return out;
}

function emojiLabels() {
  const require = createRequire(import.meta.url);
  const out = [];
  for (const lang of ["de", "fr", "es", "ja", "zh", "ru", "ko", "hi", "th"]) {
    const data = require(`emojibase-data/${lang}/compact.json`);
    for (const e of data.slice(0, 400).filter((_, i) => i % 3 === 0)) out.push(`${e.label} ${e.unicode}`);
  }
  return out;
}

function runPython(captions, nIds, dir, name) {
  const capFile = path.join(dir, `${name}.txt`);
  const idsFile = path.join(dir, `${name}.ids.jsonl`);
  writeFileSync(capFile, captions.join("\n"));
  const out = execFileSync("/usr/bin/python3", [path.join(root, "bench/tokenizer_ref.py"), vocabGz, capFile, idsFile, String(nIds)], { encoding: "utf8", maxBuffer: 1 << 26 });
  const timing = JSON.parse(out.trim().split("\n").pop());
  const ids = readFileSync(idsFile, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  return { ...timing, ids };
}

function agreement(tok, captions, refIds, label) {
  let same = 0;
  const bad = [];
  captions.forEach((c, i) => {
    const ours = tok.encode(c);
    if (JSON.stringify(ours) === JSON.stringify(refIds[i])) same++;
    else if (bad.length < 3) bad.push({ caption: c, ours: ours.join(","), ref: refIds[i].join(",") });
  });
  console.log(`agreement ${label}: ${same}/${captions.length} = ${((100 * same) / captions.length).toFixed(2)}% identical id sequences`);
  for (const b of bad) console.log("  differs:", JSON.stringify(b));
}

const dir = mkdtempSync(path.join(os.tmpdir(), "clipts-tok-bench-"));
try {
  const caps = glosses(N);
  const multi = emojiLabels();
  console.log(`captions: ${caps.length} WordNet glosses (mean ${(caps.reduce((a, c) => a + c.length, 0) / caps.length).toFixed(0)} chars), ${multi.length} multilingual emoji labels`);

  const py = runPython(caps, 1000, dir, "glosses");
  const pyMulti = runPython(multi, multi.length, dir, "multi");

  const t0 = performance.now();
  const tok = await loadTokenizer({ kind: "clip" });
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  let rows = 0;
  for (let i = 0; i < caps.length; i += 1000) rows += tok.tokenize(caps.slice(i, i + 1000)).length / tok.contextLength;
  const tsSec = (performance.now() - t1) / 1000;

  const ours = rows / tsSec;
  const ref = py.texts / py.seconds;
  console.log(`load clipts tokenizer: ${loadMs.toFixed(0)} ms`);
  console.log(`clipts tokenize() [B,77] int32 : ${ours.toFixed(0)} texts/s (${rows} texts in ${tsSec.toFixed(2)} s)`);
  console.log(`python simple_tokenizer ref    : ${ref.toFixed(0)} texts/s (${py.texts} texts in ${py.seconds.toFixed(2)} s, encode only)`);
  console.log(`ratio clipts / reference       : ${(ours / ref).toFixed(2)}x`);
  agreement(tok, caps.slice(0, 1000), py.ids, "WordNet glosses (first 1000)");
  agreement(tok, multi, pyMulti.ids, "emoji labels de/fr/es/ja/zh/ru/ko/hi/th");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
