// Per-language metadata for the demo pool: every emoji name (emojibase label)
// in each demo language, as the demo's captions use them (verbatim). This is
// the demo's stand-in for MetaCLIP 2's per-language WordNet + Wikipedia lists.
import { DEMO_LANGUAGES, loadEmojiNames } from "./demo-sources.js";
import type { WorldwideMetadata } from "../curation/worldwide/match.js";

export function demoWorldwideMetadata(languages: readonly string[] = DEMO_LANGUAGES): WorldwideMetadata {
  const out: WorldwideMetadata = {};
  for (const lang of languages) {
    const names = new Set<string>();
    for (const e of loadEmojiNames(lang as (typeof DEMO_LANGUAGES)[number]).values()) {
      if (e.label) names.add(e.label);
    }
    out[lang] = [...names].sort();
  }
  return out;
}
