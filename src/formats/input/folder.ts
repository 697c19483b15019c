// Image folders: ROOT/class/file (one split) or ROOT/split/class/file (the
// ImageNet and CIFAR layouts). Labels index the sorted class names (the union
// over splits); the caption is a sidecar FILE.txt when present, else the class
// name with underscores as spaces.
import { promises as fs, type Dirent } from "node:fs";
import path from "node:path";
import { InputError } from "../../util/errors.js";
import { BoundedReadError, readFileBounded } from "../../util/bounded-read.js";
import { decodeUtf8, extOf, IMAGE_EXTENSIONS, MAX_TEXT_MEMBER_BYTES, type FormatSource, type ReaderItem } from "./common.js";

/** Files that accompany images and are not samples themselves. */
const SIDECARS = new Set(["txt", "json"]);

async function listDir(dir: string): Promise<Dirent[]> {
  try {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return entries.filter((e) => !e.name.startsWith(".")).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err) {
    throw new InputError(`${dir}: cannot read folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** All files under dir (recursive, sorted), as paths relative to dir. */
async function walk(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await listDir(path.join(dir, rel))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(dir, r)));
    else if (e.isFile() || e.isSymbolicLink()) out.push(r);
  }
  return out;
}

interface ClassDir {
  split?: string;
  className: string;
  dir: string;
}

/** Decide between ROOT/class/file and ROOT/split/class/file. */
async function findClassDirs(root: string): Promise<ClassDir[]> {
  const top = await listDir(root);
  const topFiles = top.filter((e) => !e.isDirectory() && IMAGE_EXTENSIONS.has(extOf(e.name)));
  const topDirs = top.filter((e) => e.isDirectory());
  if (topFiles.length > 0) {
    throw new InputError(`${root}: images directly in the folder (e.g. ${topFiles[0].name}); expected ROOT/class/image or ROOT/split/class/image`);
  }
  if (topDirs.length === 0) throw new InputError(`${root}: no class folders found`);
  // A split folder holds only folders; a class folder holds images.
  const kinds = await Promise.all(
    topDirs.map(async (d) => {
      const inner = await listDir(path.join(root, d.name));
      const hasImages = inner.some((e) => !e.isDirectory() && IMAGE_EXTENSIONS.has(extOf(e.name)));
      const hasDirs = inner.some((e) => e.isDirectory());
      return hasDirs && !hasImages ? "split" : "class";
    }),
  );
  if (kinds.every((k) => k === "split")) {
    const out: ClassDir[] = [];
    for (const s of topDirs) {
      for (const c of await listDir(path.join(root, s.name))) {
        if (c.isDirectory()) out.push({ split: s.name, className: c.name, dir: path.join(root, s.name, c.name) });
      }
    }
    return out;
  }
  return topDirs.map((d) => ({ className: d.name, dir: path.join(root, d.name) }));
}

export async function readFolder(root: string): Promise<FormatSource> {
  const classDirs = await findClassDirs(root);
  const classes = [...new Set(classDirs.map((c) => c.className))].sort();
  const labelOf = new Map(classes.map((c, i) => [c, i]));
  const plan: { cd: ClassDir; files: string[] }[] = [];
  let total = 0;
  for (const cd of classDirs) {
    const files = await walk(cd.dir);
    plan.push({ cd, files });
    total += files.filter((f) => !SIDECARS.has(extOf(f))).length;
  }
  async function* items(): AsyncGenerator<ReaderItem> {
    for (const { cd, files } of plan) {
      const present = new Set(files);
      for (const f of files) {
        const ext = extOf(f);
        if (SIDECARS.has(ext)) continue;
        const stem = ext ? f.slice(0, -(ext.length + 1)) : f;
        const key = [cd.split, cd.className, stem].filter((x) => x !== undefined).join("/");
        if (!IMAGE_EXTENSIONS.has(ext)) {
          yield { key, skip: `unsupported file type: ".${ext}"` };
          continue;
        }
        const item: ReaderItem = {
          key,
          imagePath: path.join(cd.dir, f),
          caption: cd.className.replace(/_/g, " "),
          label: labelOf.get(cd.className)!,
          extra: cd.split !== undefined ? { split: cd.split, class_name: cd.className } : { class_name: cd.className },
        };
        if (present.has(`${stem}.txt`)) {
          const capFile = path.join(cd.dir, `${stem}.txt`);
          let bytes: Buffer;
          try {
            bytes = await readFileBounded(capFile, MAX_TEXT_MEMBER_BYTES, "caption file");
          } catch (err) {
            if (!(err instanceof BoundedReadError)) throw err;
            yield { key, skip: `caption file ${err.kind}: ${capFile} (${err.detail})` };
            continue;
          }
          const { text, ok } = decodeUtf8(bytes);
          if (!ok) item.captionInvalid = true;
          else item.caption = text.trim();
        }
        yield item;
      }
    }
  }
  return { items: items(), total, classes, files: [root] };
}
