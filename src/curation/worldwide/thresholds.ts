// Per-language balancing thresholds from one tail share (MetaCLIP 2): English
// at t_en keeps a tail share p = tToP(counts_en, t_en) of its matches; every
// other language gets t_lang = pToT(counts_lang, p), the threshold whose tail
// holds the same share of that language's matches.
import { InputError } from "../../util/errors.js";
import { pToT, tToP } from "../metaclip/balance.js";

export interface WorldwideThresholds {
  /** Reference language and its threshold. */
  reference: string;
  tRef: number;
  /** Tail share of the reference language at tRef. */
  p: number;
  /** Threshold per language (reference included, = tRef). */
  t: Record<string, number>;
  /** Languages without any match (no threshold; nothing of them is kept). */
  empty: string[];
}

export function worldwideThresholds(
  counts: Readonly<Record<string, ArrayLike<number>>>,
  tRef: number,
  reference = "en",
): WorldwideThresholds {
  if (!(tRef > 0) || !Number.isFinite(tRef)) throw new InputError(`t_en must be a positive number, got ${tRef}`);
  const ref = counts[reference];
  if (!ref) throw new InputError(`no entry counts for the reference language "${reference}"`);
  const p = tToP(ref, tRef);
  if (Number.isNaN(p)) throw new InputError(`reference language "${reference}" has no matches, so its tail share is undefined`);
  const t: Record<string, number> = {};
  const empty: string[] = [];
  for (const [lang, c] of Object.entries(counts)) {
    if (lang === reference) {
      t[lang] = tRef;
      continue;
    }
    const tl = pToT(c, p);
    // pToT can return 0 (a language whose smallest counts are 0); balancing needs t > 0.
    if (Number.isNaN(tl)) empty.push(lang);
    else t[lang] = Math.max(tl, 1);
  }
  return { reference, tRef, p, t, empty };
}
