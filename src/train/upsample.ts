// Low-resource language upsampling during training (WebLI-100B): the languages
// named in `data.upsample.targets` are replicated, the others slightly thinned,
// so each named language's expected share of an epoch equals its target.
// Languages come from curation's langid sidecars; the loader's `repeats` hook
// emits each row a per-epoch number of times (src/curation/worldwide/upsample.ts).
import { ShardSelection } from "../formats/selection.js";
import { LangSidecars } from "../curation/worldwide/langid.js";
import type { RepeatCount, Selection } from "../formats/selection.js";
import { upsampleRepeats, upsampleWeights, WEBLI_TARGETS, type UpsampleWeights } from "../curation/worldwide/upsample.js";

export interface UpsampleConfig {
  /** Folder of <shard>.lang.jsonl sidecars (`clipts curate langid`). */
  langs: string;
  /** Target share per language, or "webli" (bn, fil, hi, iw, mi, sw, te at 1% each). */
  targets: "webli" | Record<string, number>;
  seed: number;
  /** Language-ID confidence below this counts as undetermined. */
  min_confidence: number;
}

/**
 * The loader's per-epoch copy count. Language shares are counted over the rows
 * training reads: a {shard: rows} selection's rows, else every labelled row
 * (a key-set selection cannot be mapped to rows here, so all rows count).
 */
export async function upsampleRepeatCount(u: UpsampleConfig, selection?: Selection): Promise<{ repeats: RepeatCount; weights: UpsampleWeights; badLines: number }> {
  const langs = await LangSidecars.open(u.langs, { minConfidence: u.min_confidence });
  const rowSel = !selection || selection instanceof Set ? null : selection instanceof ShardSelection ? selection : ShardSelection.fromRecord(selection as Readonly<Record<string, readonly number[]>>);
  const counts: Record<string, number> = {};
  // One shard's labels (and row list) at a time; the selection names its shards as the pool does (.arrow or .tar).
  for (const shard of rowSel ? rowSel.shards() : langs.shards) {
    const labels = langs.rowsOf(shard);
    if (rowSel) {
      for (const row of rowSel.rows(shard)) {
        const l = labels[row];
        if (l !== undefined) counts[l] = (counts[l] ?? 0) + 1;
      }
    } else {
      labels.forEach((l) => {
        if (l !== undefined) counts[l] = (counts[l] ?? 0) + 1;
      });
    }
  }
  const weights = upsampleWeights(counts, u.targets === "webli" ? WEBLI_TARGETS : u.targets);
  return { repeats: upsampleRepeats(weights, (shard, row) => langs.langOf(shard, row), u.seed), weights, badLines: langs.badLines };
}
