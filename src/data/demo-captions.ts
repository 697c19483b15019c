// Caption styles of the demo dataset. Every choice is a hash of
// (seed, row key, purpose), so captions do not depend on build order.
import { hashUniform } from "../util/hash.js";
import type { DemoLang, EmojiEntry } from "./demo-sources.js";

/** Zero-shot prompt templates ("{}" is the class name), written to templates.json. */
export const ZERO_SHOT_TEMPLATES = [
  "an emoji of a {}.",
  "an icon of a {}.",
  "a picture of a {}.",
  "a flat illustration of a {}.",
  "{}",
];

// Training templates in English; some are also zero-shot ones, most are not.
const EN_TEMPLATES = [
  "an emoji of {a}",
  "{a} icon",
  "{x} emoji",
  "a cartoon of {a}",
  "a flat illustration of {a}",
  "sticker: {x}",
  "{x}",
  "{e} {x}",
  "clip art of {a}",
];

// One caption frame per other language, so multilingual labels look like
// captions rather than bare dictionary entries.
const FOREIGN_TEMPLATES: Record<Exclude<DemoLang, "en">, string[]> = {
  de: ["{x}", "Emoji: {x}", "ein Bild von {x}", "{x} Symbol"],
  fr: ["{x}", "émoji : {x}", "une image de {x}", "icône {x}"],
  es: ["{x}", "emoji de {x}", "una imagen de {x}", "icono: {x}"],
  ja: ["{x}", "{x}の絵文字", "{x}のイラスト", "絵文字：{x}"],
  zh: ["{x}", "{x}的表情符号", "{x}图标", "表情：{x}"],
};

/** Web-like captions carrying no information, for curation to filter out. */
const NOISE_CAPTIONS = [
  (n: number) => `IMG_${String(n % 10000).padStart(4, "0")}.JPG`,
  (n: number) => `DSC${String(n % 100000).padStart(5, "0")}`,
  () => "untitled",
  () => "image",
  (n: number) => `photo-${n % 1000}.png`,
  () => "click here to download",
  (n: number) => `Screenshot 2021-0${1 + (n % 9)}-1${n % 10} at 10.${10 + (n % 50)}.png`,
  () => "placeholder",
];

export type CaptionKind = "template" | "tags" | "foreign" | "foreign-tags" | "noise";

export interface Caption {
  caption: string;
  lang: string;
  kind: CaptionKind;
}

function pick<T>(items: readonly T[], u: number): T {
  return items[Math.min(items.length - 1, Math.floor(u * items.length))]!;
}

function withArticle(label: string): string {
  return /^[aeiou]/i.test(label) ? `an ${label}` : `a ${label}`;
}

function tagList(tags: string[], seed: number, key: string): string {
  // A seeded subset of up to 5 tags, in one of three web-like formats.
  const chosen = [...tags]
    .map((t, i) => ({ t, u: hashUniform(seed, key, "tag", i) }))
    .sort((a, b) => a.u - b.u)
    .slice(0, 5)
    .map((x) => x.t);
  const fmt = hashUniform(seed, key, "tagfmt");
  if (fmt < 0.4) return chosen.join(", ");
  if (fmt < 0.7) return chosen.join(" ");
  return chosen.map((t) => `#${t.replace(/\s+/g, "")}`).join(" ");
}

/**
 * The caption of one row. `names` holds the concept's entry per language
 * (a language may lack it). `noiseFraction` of rows get a noise caption.
 */
export function makeCaption(
  seed: number,
  key: string,
  names: Partial<Record<DemoLang, EmojiEntry>>,
  noiseFraction: number,
): Caption {
  const en = names.en!;
  const u = (purpose: string) => hashUniform(seed, key, purpose);
  if (u("noise") < noiseFraction) {
    return { caption: pick(NOISE_CAPTIONS, u("noise-kind"))(Math.floor(u("noise-n") * 1e6)), lang: "und", kind: "noise" };
  }
  const foreign = (Object.keys(FOREIGN_TEMPLATES) as Exclude<DemoLang, "en">[]).filter((l) => names[l]);
  const r = u("kind");
  if (r < 0.45 || foreign.length === 0) {
    const t = pick(EN_TEMPLATES, u("template"));
    const caption = t.replace("{a}", withArticle(en.label)).replace("{x}", en.label).replace("{e}", en.emoji);
    return { caption, lang: "en", kind: "template" };
  }
  if (r < 0.6 && en.tags.length > 0) return { caption: tagList(en.tags, seed, key), lang: "en", kind: "tags" };
  const lang = pick(foreign, u("lang"));
  const entry = names[lang]!;
  if (r < 0.88 || entry.tags.length === 0) {
    const caption = pick(FOREIGN_TEMPLATES[lang], u("ftemplate")).replace("{x}", entry.label);
    return { caption, lang, kind: "foreign" };
  }
  return { caption: tagList(entry.tags, seed, key), lang, kind: "foreign-tags" };
}
