// The data card (README.md) written next to the demo dataset.
import type { EmojiStyle } from "./demo-sources.js";

function table(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `| ${k} | ${v} |`)
    .join("\n");
}

export interface DemoSummary {
  output: string;
  seed: number;
  concepts: number;
  classes: number;
  images: number;
  train: number;
  eval: number;
  /** Rows of each per-language retrieval split, DIR/eval-<lang>.jsonl. */
  evalByLang: Record<string, number>;
  trainStyles: string[];
  evalStyle: string;
  byStyle: Record<string, number>;
  byLang: Record<string, number>;
  byKind: Record<string, number>;
  /** Images that failed to render, skipped (style/hexcode). */
  skipped: string[];
  seconds: number;
}

export function demoReadme(s: DemoSummary, styles: EmojiStyle[], classes: string[], size: number, perImage: number, noise: number): string {
  return `# clipts demo dataset: emoji in several styles

Built by \`clipts data demo\` (seed ${s.seed}). The same ${s.concepts} emoji concepts drawn in
${styles.length} artwork styles. Training uses ${s.trainStyles.join(", ")}; **${s.evalStyle}** is held out
(never in train.jsonl), so evaluation measures transfer to an unseen drawing style.

## Files
- \`train.jsonl\`: ${s.train} image-text pairs (${perImage} captions per training image).
- \`eval.jsonl\`: ${s.eval} pairs in the held-out style, clean English captions ("an emoji of a …").
- Each line: \`{"key","image","caption","lang","label"?,"style","concept","kind"}\`. \`image\` is a
  path relative to this folder; \`label\` (index into classes.json) is present only for the
  ${s.classes} zero-shot class concepts; \`concept\` is the emojibase hexcode; \`kind\` is the caption style.
- \`images/<style>/<hexcode>.png\`: ${s.images} RGB PNGs, ${size}×${size}, rendered from SVG on white.
- \`classes.json\`: ${s.classes} class names (CLDR English names), chosen round-robin over emoji
  subgroups. \`templates.json\`: zero-shot prompt templates, \`{}\` stands for the class name.
- \`demo.json\`: these counts, machine-readable.

## Captions
Kinds: \`template\` (English templates such as "an emoji of a cat face", "sticker: cat face"),
\`tags\` (CLDR keywords as a list or hashtags), \`foreign\` (the name in de/fr/es/ja/zh, sometimes in a
short frame), \`foreign-tags\`, and \`noise\` (${(noise * 100).toFixed(0)}% of rows: "IMG_0042.JPG", "untitled",
"image", …, lang "und") that carry no information, for curation to drop.

| kind | train rows |
| --- | --- |
${table(s.byKind)}

| lang | train rows |
| --- | --- |
${table(s.byLang)}

| style | rows (train + eval) |
| --- | --- |
${table(s.byStyle)}

${s.skipped.length > 0 ? `Skipped (failed to render): ${s.skipped.join(", ")}\n` : "No image failed to render.\n"}
## Sources and licenses
| style | artwork | license | npm package |
| --- | --- | --- | --- |
${styles.map((st) => `| ${st.id} | ${st.artwork} | ${st.license} | ${st.pkg} |`).join("\n")}

Names and keywords: CLDR emoji annotations via \`emojibase-data\` (MIT; CLDR data under the
Unicode License). OpenMoji images are CC BY-SA 4.0 and Twemoji CC BY 4.0: redistribution of
the rendered images needs attribution (and share-alike for OpenMoji).

## Classes
${classes.join(", ")}
`;
}
