// Shipped zero-shot assets (data/zeroshot): class names, prompt templates and
// the ImageNet wnid list / WordNet names. User-supplied class-name and
// template files are read here too, so every list goes through one validator.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../util/errors.js";

/** Built-in datasets with shipped class names and templates. */
export const BUILTIN_DATASETS = ["imagenet", "cifar10", "cifar100"] as const;
export type BuiltinDataset = (typeof BUILTIN_DATASETS)[number];

/** data/zeroshot of the package (two levels up from src/eval or dist/eval). */
export function zeroshotDataDir(): string {
  return fileURLToPath(new URL("../../data/zeroshot/", import.meta.url));
}

const FILES: Record<BuiltinDataset, { classnames: string; templates: string }> = {
  imagenet: { classnames: "imagenet_classnames.json", templates: "imagenet_templates_openai80.json" },
  cifar10: { classnames: "cifar10_classnames.json", templates: "cifar_templates.json" },
  cifar100: { classnames: "cifar100_classnames.json", templates: "cifar_templates.json" },
};

export interface ZeroShotAssets {
  classnames: string[];
  templates: string[];
}

export function isBuiltinDataset(name: string): name is BuiltinDataset {
  return (BUILTIN_DATASETS as readonly string[]).includes(name);
}

/** Class names and templates shipped for a built-in dataset. */
export function builtinAssets(dataset: BuiltinDataset): ZeroShotAssets {
  const dir = zeroshotDataDir();
  return {
    classnames: readStringList(path.join(dir, FILES[dataset].classnames), "classnames"),
    templates: readTemplates(path.join(dir, FILES[dataset].templates)),
  };
}

/**
 * A list of strings from a JSON array file or a text file with one entry per
 * line (blank lines and lines starting with # ignored).
 */
export function readStringList(file: string, what: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new InputError(`${what} file ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let list: unknown;
  if (file.endsWith(".json")) {
    try {
      list = JSON.parse(text);
    } catch (err) {
      throw new InputError(`${what} file ${file}: invalid JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(list)) throw new InputError(`${what} file ${file}: expected a JSON array of strings`);
    list.forEach((v, i) => {
      if (typeof v !== "string" || v.trim() === "") throw new InputError(`${what} file ${file}: entry ${i} is not a non-empty string`);
    });
  } else {
    list = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
  }
  const out = list as string[];
  if (out.length === 0) throw new InputError(`${what} file ${file}: empty`);
  return out;
}

/** Templates must contain the `{}` placeholder for the class name. */
export function readTemplates(file: string): string[] {
  const list = readStringList(file, "templates");
  checkTemplates(list, file);
  return list;
}

export function checkTemplates(list: string[], where: string): void {
  list.forEach((t, i) => {
    if (!t.includes("{}")) throw new InputError(`templates ${where}: entry ${i} ${JSON.stringify(t)} has no {} placeholder`);
  });
}

/** Fill a template with a class name (every `{}` is replaced). */
export function fillTemplate(template: string, classname: string): string {
  return template.split("{}").join(classname);
}

/** The 1000 ImageNet wnids in class-index order (sorted). */
export function imagenetWnids(): string[] {
  return readStringList(path.join(zeroshotDataDir(), "imagenet_wnids.txt"), "wnids");
}

/** wnid -> WordNet 3.0 lemmas (first lemma = head word), for the 1000 ImageNet classes. */
export function imagenetWnidMap(): Map<string, string[]> {
  const file = path.join(zeroshotDataDir(), "imagenet_wnid_map.json");
  const obj = JSON.parse(readFileSync(file, "utf8")) as Record<string, string[]>;
  return new Map(Object.entries(obj));
}
