// An independent, deliberately naive CLIP tokenizer used only as a test
// oracle: OpenAI's published algorithm (byte table, pre-tokenizer tried
// alternative by alternative, repeated lowest-rank merge over the whole word),
// reading nothing but the merge list of the shipped tokenizer.json.
import { readFileSync } from "node:fs";

const json = JSON.parse(readFileSync(new URL("../../data/clip-bpe-tokenizer.json", import.meta.url), "utf8"));
export const MERGES: string[] = json.model.merges;

// bytes_to_unicode written out again here (not imported) so a mistake there is caught.
const printable = [
  ...Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => 0x21 + i),
  ...Array.from({ length: 0xac - 0xa1 + 1 }, (_, i) => 0xa1 + i),
  ...Array.from({ length: 0xff - 0xae + 1 }, (_, i) => 0xae + i),
];
const byteOrder = [...printable, ...Array.from({ length: 256 }, (_, b) => b).filter((b) => !printable.includes(b))];
const byteChar: string[] = [];
byteOrder.forEach((b, i) => (byteChar[b] = String.fromCodePoint(i < printable.length ? b : 256 + (i - printable.length))));

const ids = new Map<string, number>();
byteOrder.forEach((b, i) => ids.set(byteChar[b]!, i));
byteOrder.forEach((b, i) => ids.set(byteChar[b]! + "</w>", 256 + i));
MERGES.forEach((m, i) => ids.set(m.replace(" ", ""), 512 + i));
const ranks = new Map(MERGES.map((m, i) => [m, i]));

function bpe(word: string): string[] {
  const chars = Array.from(word);
  let parts = [...chars.slice(0, -1), chars[chars.length - 1] + "</w>"];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = ranks.get(`${parts[i]} ${parts[i + 1]}`);
      if (r !== undefined && r < bestRank) (bestRank = r), (best = i);
    }
    if (best < 0) return parts;
    const [a, b] = [parts[best]!, parts[best + 1]!];
    const next: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) next.push(a + b), i++;
      else next.push(parts[i]!);
    }
    parts = next;
  }
}

const isL = (c: string) => /\p{L}/u.test(c);
const isN = (c: string) => /\p{N}/u.test(c);
const isS = (c: string) => /\s/u.test(c);

function preTokenize(text: string): string[] {
  const out: string[] = [];
  const cps = Array.from(text);
  let i = 0;
  const rest = () => cps.slice(i).join("");
  while (i < cps.length) {
    const c = cps[i]!;
    const r = rest();
    const lit = ["<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].find((s) => r.startsWith(s));
    if (lit) {
      out.push(lit);
      i += Array.from(lit).length;
    } else if (isL(c)) {
      let j = i + 1;
      while (j < cps.length && isL(cps[j]!)) j++;
      out.push(cps.slice(i, j).join(""));
      i = j;
    } else if (isN(c)) {
      out.push(c);
      i++;
    } else if (isS(c)) {
      i++;
    } else {
      let j = i + 1;
      while (j < cps.length && !isS(cps[j]!) && !isL(cps[j]!) && !isN(cps[j]!)) j++;
      out.push(cps.slice(i, j).join(""));
      i = j;
    }
  }
  return out;
}

/** Ids for text that is already clean (lowercase, single spaces). */
export function referenceEncode(cleanText: string): number[] {
  const out = [49406];
  for (const tok of preTokenize(cleanText)) {
    if (tok === "<|startoftext|>" || tok === "<|endoftext|>") {
      out.push(tok === "<|startoftext|>" ? 49406 : 49407);
      continue;
    }
    const mapped = Array.from(Buffer.from(tok, "utf8"), (b) => byteChar[b]).join("");
    for (const p of bpe(mapped)) out.push(ids.get(p)!);
  }
  out.push(49407);
  return out;
}
