// Join the shard folders a job array's ingest tasks wrote (`data ingest
// --shard i/n`) into one shard folder: each part's shards are hard-linked
// (copied across file systems) under `partNNNN-` names, and one manifest lists
// them all, part by part, with the parts' rows, hashes and skip counts. The
// step is cheap: no shard is read, only manifests. Repeated keys across parts
// are not looked for (ingest detects them within a window of one task's rows).
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { fsyncDir, writeJsonAtomic } from "../util/atomic.js";
import { InputError } from "../util/errors.js";
import { listShards, MANIFEST_FILE, MAX_SKIPPED_LISTED, type ShardEntry, type ShardManifest } from "./shards.js";

/** Link `from` as `to`, or copy it when a link is not possible (another file system). */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fs.link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP") throw err;
    await fs.copyFile(from, to);
  }
}

export async function mergeShardFolders(inputs: string[], output: string): Promise<ShardManifest> {
  if (inputs.length === 0) throw new InputError("--inputs: name the shard folders to merge");
  // Every manifest is read and checked before anything is written.
  const parts: { dir: string; m: ShardManifest }[] = [];
  for (const dir of inputs) parts.push({ dir, m: await listShards(dir) });
  const classes = JSON.stringify(parts[0]!.m.classes ?? null);
  for (const { dir, m } of parts) {
    if (JSON.stringify(m.classes ?? null) !== classes) throw new InputError(`${dir}: its class names differ from ${inputs[0]}'s; parts of one dataset share them`);
  }
  const extraColumns: Record<string, "utf8" | "float64"> = {};
  for (const { dir, m } of parts) {
    for (const [name, type] of Object.entries(m.extraColumns ?? {})) {
      if (extraColumns[name] !== undefined && extraColumns[name] !== type) throw new InputError(`${dir}: column ${name} is ${type} here and ${extraColumns[name]} in another part`);
      extraColumns[name] = type;
    }
  }
  if (existsSync(output) && (await fs.readdir(output)).length > 0) throw new InputError(`--output ${output}: not empty; merge into a new folder`);
  await fs.mkdir(output, { recursive: true });

  const width = String(parts.length - 1).length;
  const shards: ShardEntry[] = [];
  const byReason: Record<string, number> = {};
  const keys: string[] = [];
  let skipped = 0;
  for (const [p, { dir, m }] of parts.entries()) {
    const prefix = `part${String(p).padStart(Math.max(4, width), "0")}-`;
    for (const s of m.shards) {
      await linkOrCopy(path.join(dir, s.file), path.join(output, prefix + s.file));
      shards.push({ ...s, file: prefix + s.file });
    }
    skipped += m.skipped.count;
    for (const [r, n] of Object.entries(m.skipped.byReason)) byReason[r] = (byReason[r] ?? 0) + n;
    for (const k of m.skipped.keys) if (keys.length < MAX_SKIPPED_LISTED) keys.push(k);
  }
  const sameRows = parts.every(({ m }) => m.rowsPerShard === parts[0]!.m.rowsPerShard);
  const manifest: ShardManifest = {
    format: "clipts-shards",
    version: 1,
    rows: shards.reduce((a, s) => a + s.rows, 0),
    // Columns every part has.
    columns: parts[0]!.m.columns.filter((c) => parts.every(({ m }) => m.columns.includes(c))),
    shards,
    skipped: { count: skipped, byReason, keys },
    ...(parts[0]!.m.classes ? { classes: parts[0]!.m.classes } : {}),
    ...(sameRows && parts[0]!.m.rowsPerShard !== undefined ? { rowsPerShard: parts[0]!.m.rowsPerShard } : {}),
    ...(Object.keys(extraColumns).length > 0 ? { extraColumns } : {}),
    source: { merged: inputs.map((d) => path.resolve(d)) },
  };
  await fsyncDir(output);
  // The manifest last: until it exists the folder is not a dataset.
  await writeJsonAtomic(path.join(output, MANIFEST_FILE), manifest);
  return manifest;
}
