#!/usr/bin/env node
// Regenerates data/clip-bpe-tokenizer.json from OpenAI's MIT-licensed merge
// list (bpe_simple_vocab_16e6.txt.gz). Run after `npm run build`:
//   node scripts/build-clip-tokenizer.mjs [path/to/bpe_simple_vocab_16e6.txt.gz] [out.json]
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { buildClipTokenizerJson } from "../dist/text/clip-json.js";
import { writeFileAtomicSync } from "../dist/util/atomic.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const src = process.argv[2] ?? `${root}../shared/data/bpe_simple_vocab_16e6.txt.gz`;
const out = process.argv[3] ?? `${root}data/clip-bpe-tokenizer.json`;
const text = gunzipSync(readFileSync(src)).toString("utf8");
const json = buildClipTokenizerJson(text.split("\n"));
writeFileAtomicSync(out, JSON.stringify(json));
console.log(`wrote ${out}: ${Object.keys(json.model.vocab).length} tokens, ${json.model.merges.length} merges`);
