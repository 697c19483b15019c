// Text clean-up before CLIP tokenization, following OpenAI's simple_tokenizer:
// basic_clean = ftfy.fix_text + html.unescape twice + strip; then whitespace
// collapse and lowercasing (those two live in the tokenizer.json normalizer).
// ftfy itself is Python-only; fixText implements the parts of ftfy's default
// fix_text that change real captions, each rule named after ftfy's option.
import { decodeHTML } from "entities";

// cp1252 bytes 0x80..0x9f (undefined slots keep the C1 code point, as ftfy's
// "sloppy" codec does).
const CP1252_HIGH = "€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ";
const CP1252_TO_BYTE = new Map<string, number>();
for (let i = 0; i < 32; i++) CP1252_TO_BYTE.set(CP1252_HIGH[i]!, 0x80 + i);

// Sequences that UTF-8 text shows when decoded as cp1252/latin-1 ("Ã©", "â€™").
const MOJIBAKE_HINT = /[ÂÃ][\u0080-\u00bf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]|â€|Ã[\u00a0-\u00bf]/;

/** fix_encoding: undo UTF-8 read as cp1252 when the whole string round-trips. */
function fixMojibake(text: string): string {
  if (!MOJIBAKE_HINT.test(text)) return text;
  const bytes: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const b = cp < 0x80 || (cp >= 0xa0 && cp <= 0xff) ? cp : CP1252_TO_BYTE.get(ch);
    if (b === undefined) return text; // not representable: not mojibake of this kind
    bytes.push(b);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return text;
  }
}

const TERMINAL_ESCAPES = /\u001b\[((?:\d|;)*)([a-zA-Z])/g;
// remove_control_chars (ftfy's list, minus the tag characters used by flag emoji).
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\u206a-\u206f\ufeff\ufff9-\ufffc]|\ud834[\udd73-\udd7a]/g;
// fix_c1_controls: stray C1 controls are cp1252 characters decoded as latin-1.
const C1_CONTROLS = /[\u0080-\u009f]/g;
// fix_latin_ligatures and fix_character_width: NFKC only on these characters.
const LIGATURES_AND_WIDE = /[\u0132\u0133\u013f\u0140\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06\u3000\uff01-\uff5e\uff61-\uffdc\uffe0-\uffee]/g;
const SINGLE_QUOTES = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTES = /[\u201c-\u201f]/g;
const LINE_BREAKS = /\r\n|[\r\u2028\u2029\u0085]/g;

function unescapeHtml(text: string): string {
  return text.includes("&") ? decodeHTML(text) : text;
}

/** A subset of ftfy.fix_text with its default options (see file comment). */
export function fixText(text: string): string {
  // unescape_html="auto": ftfy leaves text that looks like HTML markup alone.
  if (!text.includes("<")) text = unescapeHtml(text);
  text = text.replace(TERMINAL_ESCAPES, "");
  text = fixMojibake(text);
  text = text.replace(C1_CONTROLS, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]!);
  text = text.replace(LIGATURES_AND_WIDE, (c) => c.normalize("NFKC"));
  text = text.replace(SINGLE_QUOTES, "'").replace(DOUBLE_QUOTES, '"');
  text = text.replace(LINE_BREAKS, "\n");
  text = text.replace(CONTROL_CHARS, "");
  return text.normalize("NFC");
}

/** OpenAI's basic_clean: ftfy, then html.unescape twice, then strip. */
export function basicClean(text: string): string {
  return unescapeHtml(unescapeHtml(fixText(text))).trim();
}

/** OpenAI's whitespace_clean: collapse whitespace runs to one space and strip. */
export function whitespaceClean(text: string): string {
  return text.replace(/\s+/gu, " ").trim();
}

/** The full clean-up applied before BPE: basic_clean, whitespace_clean, lower(). */
export function clipClean(text: string): string {
  return whitespaceClean(basicClean(text)).toLowerCase();
}
