// The per-shard score sidecars of `clipts curate score`: one JSON line per row
// of the shard, {key, shard, row, score} for a scored pair,
// {key, shard, row, skipped, message} for a row that could not be scored, and
// a trailer {shard, truncated} when the shard was cut short.
import { promises as fs } from "node:fs";
import path from "node:path";
import { shardStem } from "../../formats/webdataset.js";
import { InputError } from "../../util/errors.js";

export interface ScoredRow {
  key: string;
  shard: string;
  row: number;
  score: number;
}

export interface SkippedRow {
  key: string | null;
  shard: string;
  row: number;
  skipped: string;
  message?: string;
}

export interface ScoreSidecar {
  file: string;
  scored: ScoredRow[];
  skipped: SkippedRow[];
  truncated?: { lostRows: number | null; reason: string };
  /** Lines that are not a valid sidecar record (skipped, counted). */
  badLines: { line: number; why: string }[];
}

/** Sidecar name of a shard file. */
export function scoreSidecarOf(shardFile: string): string {
  return `${shardStem(shardFile)}.scores.jsonl`;
}

/** The score sidecars in a folder, sorted by name (shard order). */
export async function scoreSidecarsIn(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    throw new InputError(`--scores ${dir}: cannot read folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const found = names.filter((f) => f.endsWith(".scores.jsonl")).sort();
  if (found.length === 0) throw new InputError(`--scores ${dir}: no *.scores.jsonl sidecars (run \`clipts curate score\` first)`);
  return found.map((f) => path.join(dir, f));
}

/** Read one sidecar; malformed lines are counted in badLines, never fatal. */
export async function readScoreSidecar(file: string): Promise<ScoreSidecar> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    throw new InputError(`${file}: cannot read score sidecar (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const out: ScoreSidecar = { file, scored: [], skipped: [], badLines: [] };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === "") continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      out.badLines.push({ line: i + 1, why: "invalid JSON" });
      continue;
    }
    if (v === null || typeof v !== "object") {
      out.badLines.push({ line: i + 1, why: "not an object" });
      continue;
    }
    if (typeof v.shard !== "string") {
      out.badLines.push({ line: i + 1, why: '"shard" missing' });
      continue;
    }
    if (v.truncated && typeof v.truncated === "object") {
      out.truncated = v.truncated as ScoreSidecar["truncated"];
      continue;
    }
    if (!Number.isInteger(v.row) || (v.row as number) < 0) {
      out.badLines.push({ line: i + 1, why: '"row" missing or not a non-negative integer' });
      continue;
    }
    if (typeof v.skipped === "string") {
      out.skipped.push({ key: typeof v.key === "string" ? v.key : null, shard: v.shard, row: v.row as number, skipped: v.skipped, ...(typeof v.message === "string" ? { message: v.message } : {}) });
    } else if (typeof v.key === "string" && typeof v.score === "number" && Number.isFinite(v.score)) {
      out.scored.push({ key: v.key, shard: v.shard, row: v.row as number, score: v.score });
    } else {
      out.badLines.push({ line: i + 1, why: '"key" or a finite "score" missing' });
    }
  }
  return out;
}
