// Where the demo dataset's content comes from: emoji artwork in several
// drawing styles (Iconify's JSON packagings of Noto, Twemoji, OpenMoji and
// Fluent Emoji, each a few MB of SVG) and CLDR emoji names and keywords in
// several languages (emojibase-data). All are npm packages, so the demo
// builds on any machine that can `npm ci`.
import { createRequire } from "node:module";
import { InputError } from "../util/errors.js";

const require = createRequire(import.meta.url);

export interface EmojiStyle {
  /** Short id used in keys and folder names. */
  id: string;
  /** npm package holding the Iconify JSON set. */
  pkg: string;
  artwork: string;
  license: string;
}

export const EMOJI_STYLES: readonly EmojiStyle[] = [
  { id: "noto", pkg: "@iconify-json/noto", artwork: "Noto Emoji, Google", license: "Apache-2.0" },
  { id: "twemoji", pkg: "@iconify-json/twemoji", artwork: "Twemoji, Twitter", license: "CC-BY-4.0" },
  { id: "openmoji", pkg: "@iconify-json/openmoji", artwork: "OpenMoji", license: "CC-BY-SA-4.0" },
  { id: "fluent", pkg: "@iconify-json/fluent-emoji-flat", artwork: "Fluent Emoji Flat, Microsoft", license: "MIT" },
];

export const DEMO_LANGUAGES = ["en", "de", "fr", "es", "ja", "zh"] as const;
export type DemoLang = (typeof DEMO_LANGUAGES)[number];

interface IconifyIcon {
  body: string;
  width?: number;
  height?: number;
  left?: number;
  top?: number;
}
interface IconifySet {
  icons: Record<string, IconifyIcon>;
  aliases?: Record<string, { parent: string } & Record<string, unknown>>;
  width?: number;
  height?: number;
}

/** One drawing style: its SVG for an emoji hexcode, or undefined if it lacks one. */
export class IconSet {
  private readonly set: IconifySet;
  private readonly chars: Record<string, string>;
  constructor(readonly style: EmojiStyle) {
    try {
      this.set = require(`${style.pkg}/icons.json`);
      this.chars = require(`${style.pkg}/chars.json`);
    } catch (err) {
      throw new InputError(`demo style ${style.id}: cannot load npm package ${style.pkg} (${(err as Error).message}); run npm ci`);
    }
  }

  /** Icon name for an emojibase hexcode ("1F6A3-200D-2642-FE0F"); Iconify drops FE0F. */
  private name(hexcode: string): string | undefined {
    const hex = hexcode.toLowerCase();
    return this.chars[hex] ?? this.chars[hex.replace(/-fe0f/g, "")];
  }

  /** A standalone SVG document of the icon, sized `size`×`size`. */
  svg(hexcode: string, size: number): string | undefined {
    let name = this.name(hexcode);
    if (name === undefined) return undefined;
    let icon = this.set.icons[name];
    if (!icon) {
      // Aliases that only rename are followed; ones that rotate or flip are skipped.
      const alias = this.set.aliases?.[name];
      if (!alias || Object.keys(alias).length !== 1) return undefined;
      name = alias.parent;
      icon = this.set.icons[name];
      if (!icon) return undefined;
    }
    const w = icon.width ?? this.set.width ?? 16;
    const h = icon.height ?? this.set.height ?? 16;
    return (
      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ` +
      `viewBox="${icon.left ?? 0} ${icon.top ?? 0} ${w} ${h}" width="${size}" height="${size}">${icon.body}</svg>`
    );
  }
}

export interface EmojiEntry {
  hexcode: string;
  emoji: string;
  label: string;
  tags: string[];
  group?: number;
  subgroup?: number;
  order?: number;
}

/** Emoji names and keywords in one language, by hexcode (skin-tone variants left out). */
export function loadEmojiNames(lang: DemoLang): Map<string, EmojiEntry> {
  let data: EmojiEntry[];
  try {
    data = require(`emojibase-data/${lang}/data.json`);
  } catch (err) {
    throw new InputError(`demo language ${lang}: cannot load emojibase-data/${lang}/data.json (${(err as Error).message})`);
  }
  return new Map(data.map((e) => [e.hexcode, { ...e, tags: e.tags ?? [] }]));
}

