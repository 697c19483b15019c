// Count files: a JSON array with one non-negative integer per metadata entry
// (MetaCLIP's entry_counts), written per shard and summed into global counts.
import { promises as fs } from "node:fs";
import { InputError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { mergeCounts } from "./balance.js";

export async function readCounts(file: string, expectLength?: number, expectWhy = "the metadata has"): Promise<Float64Array> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    throw new InputError(`${file}: cannot read counts (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: counts are not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(v)) throw new InputError(`${file}: counts must be a JSON array of non-negative integers`);
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (typeof c !== "number" || !Number.isInteger(c) || c < 0) {
      throw new InputError(`${file}: count at index ${i} is not a non-negative integer (got ${JSON.stringify(c)})`);
    }
    out[i] = c;
  }
  if (expectLength !== undefined && out.length !== expectLength) {
    throw new InputError(`${file}: has ${out.length} counts but ${expectWhy} ${expectLength} entries`);
  }
  return out;
}

export async function writeCounts(file: string, counts: ArrayLike<number>): Promise<void> {
  await writeFileAtomic(file, `[${Array.prototype.join.call(counts, ",")}]\n`);
}

/** Sum per-shard count files into one (same length required). */
export async function mergeCountFiles(inputs: string[], output: string): Promise<Float64Array> {
  if (inputs.length === 0) throw new InputError("merge-counts: no --inputs given");
  const parts: Float64Array[] = [];
  for (const f of inputs) {
    const c = await readCounts(f, parts[0]?.length, `${inputs[0]} has`);
    parts.push(c);
  }
  const merged = mergeCounts(parts);
  await writeCounts(output, merged);
  return merged;
}
