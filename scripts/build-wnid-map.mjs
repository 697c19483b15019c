#!/usr/bin/env node
// Build data/zeroshot/imagenet_wnid_map.json: ImageNet wnid -> WordNet lemmas.
//
// ImageNet synset ids are WordNet 3.0 noun offsets written as "n" + 8 digits,
// so the names come straight from WordNet's data.noun (Debian: wordnet-base).
// The 1000 class wnids, in the canonical sorted order that defines the class
// index, come from data/zeroshot/imagenet_wnids.txt (see the README there).
//
// Usage: node scripts/build-wnid-map.mjs [/usr/share/wordnet/data.noun]
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dataNoun = process.argv[2] ?? "/usr/share/wordnet/data.noun";
const wnidFile = path.join(root, "data/zeroshot/imagenet_wnids.txt");
const outFile = path.join(root, "data/zeroshot/imagenet_wnid_map.json");

const wnids = readFileSync(wnidFile, "utf8").split("\n").filter((l) => l.trim() !== "");
if (wnids.length !== 1000) throw new Error(`${wnidFile}: expected 1000 wnids, found ${wnids.length}`);
for (let i = 1; i < wnids.length; i++) {
  if (!(wnids[i - 1] < wnids[i])) throw new Error(`${wnidFile}:${i + 1}: wnids not strictly sorted`);
}

// data.noun line: "OFFSET LEXFILE SS_TYPE W_CNT(hex) WORD LEX_ID [WORD LEX_ID]... PTR_CNT ... | gloss".
// License header lines start with two spaces.
const lemmasByOffset = new Map();
for (const line of readFileSync(dataNoun, "utf8").split("\n")) {
  if (line === "" || line.startsWith(" ")) continue;
  const f = line.split(" ");
  const count = parseInt(f[3], 16);
  const lemmas = [];
  for (let i = 0; i < count; i++) lemmas.push(f[4 + 2 * i].replace(/_/g, " "));
  lemmasByOffset.set(f[0], lemmas);
}

const map = {};
for (const [i, wnid] of wnids.entries()) {
  if (!/^n\d{8}$/.test(wnid)) throw new Error(`${wnidFile}:${i + 1}: not a wnid: ${wnid}`);
  const lemmas = lemmasByOffset.get(wnid.slice(1));
  if (!lemmas) throw new Error(`${wnid} (line ${i + 1}) is not a noun synset in ${dataNoun}`);
  map[wnid] = lemmas;
}

const tmp = `${outFile}.tmp-${process.pid}`;
// One entry per line keeps diffs readable.
const body = wnids.map((w) => `  ${JSON.stringify(w)}: ${JSON.stringify(map[w])}`).join(",\n");
writeFileSync(tmp, `{\n${body}\n}\n`);
renameSync(tmp, outFile);
console.log(`wrote ${outFile}: ${wnids.length} wnids`);
