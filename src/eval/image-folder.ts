// Image-folder datasets: `<dir>/<class folder>/<image>` as in ImageNet's
// `val/<wnid>/*.JPEG` or CIFAR exports `test/<class name>/*.png`. Folder names
// are mapped to class indices before any image is read, so a wrong dataset or
// folder fails at once with the folders it could not place.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { InputError } from "../util/errors.js";

const IMAGE_EXT = new Set([".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".avif", ".bmp"]);

export interface ImageFolderItem {
  file: string;
  label: number;
}

export interface ClassFolder {
  name: string;
  label: number;
  images: number;
}

export interface ImageFolderScan {
  items: ImageFolderItem[];
  folders: ClassFolder[];
  /** How folder names were read: wnid, class name, WordNet lemma or class index. */
  matchedBy: Record<"wnid" | "classname" | "lemma" | "index", number>;
}

export interface FolderNaming {
  /** Class names in label order (the same list the prompts use). */
  classnames: string[];
  /** wnid of each label (ImageNet): folders named by wnid map to its position. */
  wnids?: string[];
  /** WordNet lemmas of each label: folders named by any lemma that names one class only. */
  lemmas?: string[][];
}

/** Lowercase, `_`/`-`/whitespace runs -> one space: "Aquarium_Fish" ~ "aquarium fish". */
function norm(s: string): string {
  return s.toLowerCase().replace(/[\s_]+/g, " ").trim();
}

/** Map each folder name to a label, or throw naming every folder that fits no class. */
export function resolveClassFolders(folders: string[], naming: FolderNaming, dir: string): Map<string, { label: number; by: keyof ImageFolderScan["matchedBy"] }> {
  const byWnid = new Map((naming.wnids ?? []).map((w, i) => [w, i]));
  const byName = new Map<string, number>();
  naming.classnames.forEach((c, i) => {
    if (!byName.has(norm(c))) byName.set(norm(c), i);
  });
  // A lemma is usable only when it names exactly one class ("crane" names two).
  const lemmaLabels = new Map<string, Set<number>>();
  (naming.lemmas ?? []).forEach((ls, i) => {
    for (const l of ls) lemmaLabels.set(norm(l), (lemmaLabels.get(norm(l)) ?? new Set()).add(i));
  });
  const allIndices = folders.every((f) => /^\d+$/.test(f) && Number(f) < naming.classnames.length);

  const out = new Map<string, { label: number; by: keyof ImageFolderScan["matchedBy"] }>();
  const unknown: string[] = [];
  for (const f of folders) {
    const lemma = lemmaLabels.get(norm(f));
    if (byWnid.has(f)) out.set(f, { label: byWnid.get(f)!, by: "wnid" });
    else if (byName.has(norm(f))) out.set(f, { label: byName.get(norm(f))!, by: "classname" });
    else if (lemma && lemma.size === 1) out.set(f, { label: [...lemma][0], by: "lemma" });
    else if (allIndices) out.set(f, { label: Number(f), by: "index" });
    else unknown.push(f);
  }
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 5).map((u) => JSON.stringify(u)).join(", ");
    throw new InputError(
      `${dir}: ${unknown.length} class folder(s) match no class of the dataset (${naming.classnames.length} classes): ${shown}` +
        `${unknown.length > 5 ? ", ..." : ""}. Folder names must be wnids, class names or class indices.`,
    );
  }
  const seen = new Map<number, string>();
  for (const [f, { label }] of out) {
    if (seen.has(label)) throw new InputError(`${dir}: folders ${JSON.stringify(seen.get(label))} and ${JSON.stringify(f)} both map to class ${label} (${naming.classnames[label]})`);
    seen.set(label, f);
  }
  return out;
}

/**
 * List `<dir>/<class>/<image>` files (sorted, so runs are reproducible) with
 * their labels. `perClass` keeps the first N images of each class.
 */
export function scanImageFolder(dir: string, naming: FolderNaming, opts: { perClass?: number } = {}): ImageFolderScan {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (err) {
    throw new InputError(`data dir ${dir}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const folders = entries.filter((e) => !e.startsWith(".") && statSync(path.join(dir, e)).isDirectory());
  if (folders.length === 0) throw new InputError(`data dir ${dir}: no class folders (expected <dir>/<class>/<image>)`);
  const labels = resolveClassFolders(folders, naming, dir);
  const items: ImageFolderItem[] = [];
  const classFolders: ClassFolder[] = [];
  const matchedBy = { wnid: 0, classname: 0, lemma: 0, index: 0 };
  for (const f of folders) {
    const { label, by } = labels.get(f)!;
    matchedBy[by]++;
    let files = readdirSync(path.join(dir, f))
      .filter((n) => !n.startsWith(".") && IMAGE_EXT.has(path.extname(n).toLowerCase()))
      .sort();
    if (opts.perClass !== undefined) files = files.slice(0, opts.perClass);
    for (const n of files) items.push({ file: path.join(dir, f, n), label });
    classFolders.push({ name: f, label, images: files.length });
  }
  if (items.length === 0) throw new InputError(`data dir ${dir}: class folders hold no images (${[...IMAGE_EXT].join(" ")})`);
  return { items, folders: classFolders, matchedBy };
}
