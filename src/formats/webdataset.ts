// Webdataset tar pools as img2dataset writes them, read where they are:
// shard lists as open_clip takes them (`shards/{00000..09999}.tar`, several
// lists joined by `::`, `pipe:CMD` entries whose stdout is the tar, a folder of
// .tar files or one .tar), the member naming convention (KEY.ext), and the
// pool's manifest: one entry per tar, named by the tar's file name, which is
// how selections and curation sidecars key its rows (row = the sample's
// ordinal among the tar's complete samples).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { InputError } from "../util/errors.js";
import type { Manifest } from "./types.js";

/** WebDataset naming: the key is the path up to the first dot of the file name. */
export function splitMemberName(name: string): { key: string; ext: string } {
  const slash = name.lastIndexOf("/");
  const dot = name.indexOf(".", slash + 1);
  if (dot < 0) return { key: name, ext: "" };
  return { key: name.slice(0, dot), ext: name.slice(dot + 1).toLowerCase() };
}

/**
 * Brace expansion as webdataset and open_clip do it: `{00000..00009}` is a
 * zero-padded numeric range (the padding of the first bound), `{a,b}` a list;
 * several groups multiply out, left to right.
 */
export function expandBraces(spec: string): string[] {
  const m = /\{([^{}]*)\}/.exec(spec);
  if (!m) return [spec];
  const head = spec.slice(0, m.index), tail = spec.slice(m.index + m[0].length);
  const body = m[1]!;
  let items: string[];
  const range = /^(\d+)\.\.(\d+)$/.exec(body);
  if (range) {
    const [lo, hi] = [Number(range[1]), Number(range[2])];
    if (hi < lo) throw new InputError(`${spec}: range {${body}} runs backwards`);
    if (hi - lo >= 10_000_000) throw new InputError(`${spec}: range {${body}} names more than 10 million shards`);
    const width = range[1]!.length;
    items = Array.from({ length: hi - lo + 1 }, (_, i) => String(lo + i).padStart(width, "0"));
  } else if (body.includes(",")) {
    items = body.split(",");
  } else {
    throw new InputError(`${spec}: {${body}} is neither a range {A..B} nor a list {a,b}`);
  }
  return items.flatMap((it) => expandBraces(head + it + tail));
}

/** A shard's file name without its extension (`shard-000001.arrow`, `00001.tar`): the stem of its sidecars. */
export function shardStem(shardFile: string): string {
  return path.basename(shardFile).replace(/\.(arrow|tar)$/i, "");
}

/** Whether a data path names a webdataset tar pool rather than a clipts shard folder. */
export function isTarPool(spec: string): boolean {
  if (spec.startsWith("pipe:") || spec.includes("::") || /\{[^{}]*\}/.test(spec) || /\.tar$/i.test(spec)) return true;
  return existsSync(spec) && statSync(spec).isDirectory() && !existsSync(path.join(spec, "manifest.json")) &&
    readdirSync(spec).some((n) => n.toLowerCase().endsWith(".tar"));
}

/** A pool spec with its local paths resolved against `base` (`pipe:` commands are left as they are). */
export function resolvePoolSpec(base: string, spec: string): string {
  return spec.split("::").map((p) => (p === "" || p.startsWith("pipe:") ? p : path.resolve(base, p))).join("::");
}

/** Whether a path is a pool read shard by shard: a clipts shard folder (manifest.json) or webdataset tars. */
export function isPool(spec: string): boolean {
  return existsSync(path.join(spec, "manifest.json")) || isTarPool(spec);
}

/** One tar of a pool: `name` keys its rows, `source` is a path or a `pipe:` command. */
export interface TarShard {
  name: string;
  source: string;
}

/** The tar's name: its file name, or for `pipe:` the last word naming a .tar (e.g. s3://b/00001.tar). */
function tarName(source: string): string {
  if (!source.startsWith("pipe:")) return path.basename(source);
  const words = source.slice(5).split(/\s+/).filter((w) => /\.tar$/i.test(w));
  if (words.length === 0) throw new InputError(`${source}: a pipe: command must name its .tar (its rows are keyed by that name)`);
  return path.posix.basename(words[words.length - 1]!);
}

/** The tars a spec names, in order. Names must be distinct (rows are keyed by them). */
export function tarShards(spec: string): TarShard[] {
  const sources: string[] = [];
  for (const part of spec.split("::").filter((p) => p !== "")) {
    if (!part.startsWith("pipe:") && existsSync(part) && statSync(part).isDirectory()) {
      const names = readdirSync(part).filter((n) => n.toLowerCase().endsWith(".tar")).sort();
      if (names.length === 0) throw new InputError(`${part}: no .tar files in the folder`);
      sources.push(...names.map((n) => path.join(part, n)));
    } else {
      sources.push(...expandBraces(part));
    }
  }
  if (sources.length === 0) throw new InputError(`${spec}: names no tar`);
  const seen = new Map<string, string>();
  return sources.map((source) => {
    const name = tarName(source);
    const other = seen.get(name);
    if (other !== undefined) throw new InputError(`${spec}: two tars are named ${name} (${other} and ${source}); rows are keyed by the tar's name`);
    seen.set(name, source);
    return { name, source };
  });
}

/** img2dataset's per-tar count of written samples (`<stem>_stats.json` "successes"), or -1 when there is none. */
function statsCount(source: string): number {
  if (source.startsWith("pipe:")) return -1;
  const file = source.replace(/\.tar$/i, "_stats.json");
  if (file === source || !existsSync(file)) return -1;
  try {
    const n = (JSON.parse(readFileSync(file, "utf8")) as { successes?: unknown }).successes;
    return Number.isInteger(n) && (n as number) >= 0 ? (n as number) : -1;
  } catch {
    return -1;
  }
}

/**
 * The pool's manifest: a tar per shard entry with its source, and its row
 * count where img2dataset's stats file gives it (-1: unknown until read).
 * Local tars must exist; `pipe:` sources are checked when they are read.
 */
export function tarManifest(spec: string): Manifest {
  const shards = tarShards(spec).map(({ name, source }) => {
    if (!source.startsWith("pipe:") && !(existsSync(source) && statSync(source).isFile())) throw new InputError(`${spec}: tar ${source} not found`);
    return { file: name, source, rows: statsCount(source), sha256: "" };
  });
  const known = shards.every((s) => s.rows >= 0);
  return {
    format: "webdataset",
    version: 1,
    rows: known ? shards.reduce((a, s) => a + s.rows, 0) : -1,
    columns: ["key", "caption", "image", "label"],
    shards,
    skipped: { count: 0, byReason: {}, keys: [] },
  };
}
