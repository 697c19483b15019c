// A high-quality subset for training a DFN filtering network: keep the rows of
// a shard folder whose columns pass simple conditions, e.g. for the demo pool
// `lang=en` and `kind!=noise` (English captions that are not web-like noise
// such as "IMG_0042.JPG"). DFN trains its filter on a small trusted set;
// on the demo that set is what the demo's own labels say is clean.
// Writes OUTPUT/selection/ (the selection folder, shard by shard) and hq_stats.json.
import path from "node:path";
import { poolManifest, poolRows } from "../../formats/pool.js";
import type { Sample } from "../../formats/types.js";
import { writeJsonAtomic } from "../../util/atomic.js";
import { InputError } from "../../util/errors.js";
import { SelectionWriter } from "../../formats/selection.js";
import { progress } from "../../util/progress.js";

export interface RowCondition {
  column: string;
  /** "in": the value is one of `values`; "not-in": it is none of them (a missing value passes "not-in"). */
  op: "in" | "not-in";
  values: string[];
}

/** Parse `col=a,b` or `col!=a,b`. */
export function parseCondition(s: string): RowCondition {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(!=|=)(.*)$/.exec(s);
  if (!m || m[3] === "") throw new InputError(`--where ${JSON.stringify(s)}: expected COLUMN=VALUE[,VALUE...] or COLUMN!=VALUE[,VALUE...]`);
  return { column: m[1]!, op: m[2] === "=" ? "in" : "not-in", values: m[3]!.split(",") };
}

function valueOf(s: Sample, column: string): string | null {
  const v = column in s && column !== "extra" ? (s as unknown as Record<string, unknown>)[column] : s.extra?.[column];
  return v === null || v === undefined ? null : String(v);
}

export function rowPasses(s: Sample, conds: RowCondition[]): boolean {
  return conds.every((c) => {
    const v = valueOf(s, c.column);
    return c.op === "in" ? v !== null && c.values.includes(v) : v === null || !c.values.includes(v);
  });
}

export interface SelectRowsResult {
  /** The selection folder. */
  file: string;
  rows: number;
  kept: number;
}

/** Select rows of `input` passing every condition; writes the selection folder OUTPUT/selection and hq_stats.json. */
export async function selectRows(o: { input: string; where: string[]; output: string; quiet?: boolean }): Promise<SelectRowsResult> {
  const conds = o.where.map(parseCondition);
  if (conds.length === 0) throw new InputError("give at least one --where condition");
  const manifest = await poolManifest(o.input);
  const known = new Set([...manifest.columns, "key", "caption"]);
  for (const c of conds) if (!known.has(c.column)) throw new InputError(`--where ${c.column}: not a column of ${o.input} (${[...known].join(", ")})`);
  const file = path.join(o.output, "selection");
  const sel = new SelectionWriter(file);
  let rows = 0, kept = 0;
  const bar = progress("select rows", manifest.rows, { unit: "rows", quiet: o.quiet });
  for (const s of manifest.shards) {
    const mine: number[] = [];
    for await (const { row, sample } of poolRows(o.input, manifest, s)) {
      rows++;
      bar.increment();
      if (!rowPasses(sample, conds)) continue;
      mine.push(row);
      kept++;
    }
    await sel.add(s.file, mine);
  }
  bar.stop();
  await sel.close();
  await writeJsonAtomic(path.join(o.output, "hq_stats.json"), { input: path.resolve(o.input), where: o.where, rows, kept });
  return { file, rows, kept };
}
