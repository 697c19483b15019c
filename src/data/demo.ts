// `clipts data demo`: a small real image-text dataset built from npm packages.
// The same emoji concepts drawn in four styles; three styles are for training
// with captions in six languages (templates, keyword lists, translated names,
// and some web-like noise captions for curation to drop); the fourth style is
// held out for evaluation, with class names and prompt templates for
// zero-shot classification. Output is a plain folder that ingest reads:
//   DIR/train.jsonl, DIR/eval.jsonl   one pair per line (see DemoRow)
//   DIR/eval-<lang>.jsonl             the held-out images captioned with their
//                                     emojibase name in each other language,
//                                     for per-language retrieval
//   DIR/images/<style>/<hexcode>.png  RGB PNGs on white
//   DIR/classes.json                  class names, index = label
//   DIR/templates.json                zero-shot templates, "{}" = class name
//   DIR/demo.json, DIR/README.md      counts and the data card
import path from "node:path";
import sharp from "sharp";
import { InputError } from "../util/errors.js";
import { hashUniform } from "../util/hash.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { progress } from "../util/progress.js";
import { DEMO_LANGUAGES, EMOJI_STYLES, IconSet, loadEmojiNames, type DemoLang, type EmojiEntry } from "./demo-sources.js";
import { makeCaption, ZERO_SHOT_TEMPLATES, type CaptionKind } from "./demo-captions.js";
import { demoReadme, type DemoSummary } from "./demo-readme.js";

export interface DemoOptions {
  /** Output folder (created). */
  output: string;
  /** Seed of every random choice. Default 0. */
  seed?: number;
  /** Number of emoji concepts drawn (cap for small builds). Default 600. */
  maxConcepts?: number;
  /** Zero-shot classes, picked across emoji subgroups. Default 100. */
  numClasses?: number;
  /** Training rows per training image, each with its own caption. Default 2. */
  captionsPerImage?: number;
  /** Fraction of training captions replaced by web-like noise. Default 0.08. */
  noiseFraction?: number;
  /** Image side in pixels. Default 64. */
  imageSize?: number;
  /** Style held out for evaluation. Default "fluent". */
  evalStyle?: string;
  /** Images rendered at once. Default 4. */
  concurrency?: number;
  quiet?: boolean;
}

/** One line of train.jsonl / eval.jsonl. */
export interface DemoRow {
  key: string;
  /** PNG path relative to the output folder. */
  image: string;
  caption: string;
  /** BCP-47 language of the caption; "und" for noise captions. */
  lang: string;
  /** Index into classes.json, present when the concept is a zero-shot class. */
  label?: number;
  style: string;
  /** emojibase hexcode of the concept, e.g. "1F431". */
  concept: string;
  kind: CaptionKind | "eval";
}

function intOption(v: number | undefined, def: number, key: string, min: number, max: number): number {
  const n = v ?? def;
  if (!Number.isInteger(n) || n < min || n > max) throw new InputError(`demo option ${key}: expected an integer in [${min}, ${max}], got ${v}`);
  return n;
}

function count(rows: DemoRow[], field: (r: DemoRow) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[field(r)] = (out[field(r)] ?? 0) + 1;
  return out;
}

/** Concepts drawn in every style, a seeded sample of `max`, in emoji order. */
function chooseConcepts(en: Map<string, EmojiEntry>, sets: IconSet[], seed: number, max: number): EmojiEntry[] {
  const candidates = [...en.values()].filter(
    // Group 2 holds skin-tone and hair components, not concepts.
    (e) => e.group !== undefined && e.group !== 2 && e.subgroup !== undefined && sets.every((s) => s.svg(e.hexcode, 8) !== undefined),
  );
  return candidates
    .map((e) => ({ e, u: hashUniform(seed, "concept", e.hexcode) }))
    .sort((a, b) => a.u - b.u)
    .slice(0, max)
    .map((x) => x.e)
    .sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
}

/** Zero-shot classes: round-robin over subgroups so that classes span the emoji space. */
function chooseClasses(concepts: EmojiEntry[], seed: number, n: number): EmojiEntry[] {
  const bySub = new Map<number, EmojiEntry[]>();
  for (const c of concepts) bySub.set(c.subgroup!, [...(bySub.get(c.subgroup!) ?? []), c]);
  const queues = [...bySub.keys()]
    .sort((a, b) => a - b)
    .map((k) => bySub.get(k)!.sort((a, b) => hashUniform(seed, "class", a.hexcode) - hashUniform(seed, "class", b.hexcode)));
  const chosen: EmojiEntry[] = [];
  const seen = new Set<string>();
  while (chosen.length < n && queues.some((q) => q.length > 0)) {
    for (const q of queues) {
      const c = q.shift();
      // Class names must be distinct strings for zero-shot prompts.
      if (c && !seen.has(c.label) && chosen.length < n) chosen.push(c), seen.add(c.label);
    }
  }
  return chosen.sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
}

async function renderAll(
  jobs: { style: IconSet; hexcode: string; file: string }[],
  size: number,
  concurrency: number,
  quiet: boolean | undefined,
): Promise<Set<string>> {
  const bar = progress("demo images", jobs.length, { unit: "img", quiet });
  const failed = new Set<string>();
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      try {
        const svg = job.style.svg(job.hexcode, size)!;
        const png = await sharp(Buffer.from(svg)).resize(size, size).flatten({ background: "#ffffff" }).png().toBuffer();
        await writeFileAtomic(job.file, png);
      } catch {
        failed.add(`${job.style.style.id}/${job.hexcode}`);
      }
      bar.increment();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  bar.stop();
  return failed;
}

/** Build the demo dataset into `opts.output`; returns what it wrote. */
export async function buildDemo(opts: DemoOptions): Promise<DemoSummary> {
  const t0 = Date.now();
  if (typeof opts.output !== "string" || opts.output === "") throw new InputError("demo option output: a folder path is required");
  const seed = intOption(opts.seed, 0, "seed", 0, 2 ** 32 - 1);
  const maxConcepts = intOption(opts.maxConcepts, 600, "maxConcepts", 1, 100_000);
  const numClasses = intOption(opts.numClasses, 100, "numClasses", 2, 100_000);
  const perImage = intOption(opts.captionsPerImage, 2, "captionsPerImage", 1, 20);
  const size = intOption(opts.imageSize, 64, "imageSize", 8, 1024);
  const concurrency = intOption(opts.concurrency, 4, "concurrency", 1, 64);
  const noise = opts.noiseFraction ?? 0.08;
  if (!(noise >= 0 && noise <= 1)) throw new InputError(`demo option noiseFraction: expected a number in [0, 1], got ${opts.noiseFraction}`);
  const evalId = opts.evalStyle ?? "fluent";
  const evalStyle = EMOJI_STYLES.find((s) => s.id === evalId);
  if (!evalStyle) throw new InputError(`demo option evalStyle: expected one of ${EMOJI_STYLES.map((s) => s.id).join(", ")}, got ${evalId}`);

  const sets = EMOJI_STYLES.map((s) => new IconSet(s));
  const trainSets = sets.filter((s) => s.style.id !== evalId);
  const names = new Map<DemoLang, Map<string, EmojiEntry>>(DEMO_LANGUAGES.map((l) => [l, loadEmojiNames(l)]));
  const concepts = chooseConcepts(names.get("en")!, sets, seed, maxConcepts);
  const classes = chooseClasses(concepts, seed, Math.min(numClasses, concepts.length));
  const labelOf = new Map(classes.map((c, i) => [c.hexcode, i]));

  const out = path.resolve(opts.output);
  const imagePath = (style: string, hex: string) => `images/${style}/${hex.toLowerCase()}.png`;
  const jobs = concepts.flatMap((c) => sets.map((s) => ({ style: s, hexcode: c.hexcode, file: path.join(out, imagePath(s.style.id, c.hexcode)) })));
  const failed = await renderAll(jobs, size, concurrency, opts.quiet);

  const train: DemoRow[] = [];
  const evalRows: DemoRow[] = [];
  const evalByLang = new Map<DemoLang, DemoRow[]>();
  for (const c of concepts) {
    const local: Partial<Record<DemoLang, EmojiEntry>> = {};
    for (const l of DEMO_LANGUAGES) {
      const e = names.get(l)!.get(c.hexcode);
      if (e) local[l] = e;
    }
    const label = labelOf.get(c.hexcode);
    for (const s of trainSets) {
      if (failed.has(`${s.style.id}/${c.hexcode}`)) continue;
      for (let k = 0; k < perImage; k++) {
        const key = `${s.style.id}-${c.hexcode.toLowerCase()}-${k}`;
        const cap = makeCaption(seed, key, local, noise);
        train.push({ key, image: imagePath(s.style.id, c.hexcode), caption: cap.caption, lang: cap.lang, ...(label !== undefined ? { label } : {}), style: s.style.id, concept: c.hexcode, kind: cap.kind });
      }
    }
    if (!failed.has(`${evalId}/${c.hexcode}`)) {
      // Eval captions are clean English, for retrieval; labels for zero-shot.
      const key = `${evalId}-${c.hexcode.toLowerCase()}`;
      evalRows.push({ key, image: imagePath(evalId, c.hexcode), caption: `an emoji of ${/^[aeiou]/i.test(c.label) ? "an" : "a"} ${c.label}`, lang: "en", ...(label !== undefined ? { label } : {}), style: evalId, concept: c.hexcode, kind: "eval" });
      // The same image captioned with its name in each other language that has one.
      for (const l of DEMO_LANGUAGES) {
        const e = local[l];
        if (l === "en" || !e) continue;
        if (!evalByLang.has(l)) evalByLang.set(l, []);
        evalByLang.get(l)!.push({ key, image: imagePath(evalId, c.hexcode), caption: e.label, lang: l, ...(label !== undefined ? { label } : {}), style: evalId, concept: c.hexcode, kind: "eval" });
      }
    }
  }
  // A seeded order mixes styles and languages within every shard.
  train.sort((a, b) => hashUniform(seed, "order", a.key) - hashUniform(seed, "order", b.key));

  const jsonl = (rows: DemoRow[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
  const summary: DemoSummary = {
    output: out,
    seed,
    concepts: concepts.length,
    classes: classes.length,
    images: jobs.length - failed.size,
    train: train.length,
    eval: evalRows.length,
    evalByLang: Object.fromEntries([...evalByLang].map(([l, rows]) => [l, rows.length])),
    trainStyles: trainSets.map((s) => s.style.id),
    evalStyle: evalId,
    byStyle: count([...train, ...evalRows], (r) => r.style),
    byLang: count(train, (r) => r.lang),
    byKind: count(train, (r) => r.kind),
    skipped: [...failed].sort(),
    seconds: 0,
  };
  await writeFileAtomic(path.join(out, "train.jsonl"), jsonl(train));
  await writeFileAtomic(path.join(out, "eval.jsonl"), jsonl(evalRows));
  for (const [l, rows] of evalByLang) await writeFileAtomic(path.join(out, `eval-${l}.jsonl`), jsonl(rows));
  await writeJsonAtomic(path.join(out, "classes.json"), classes.map((c) => c.label));
  await writeJsonAtomic(path.join(out, "templates.json"), ZERO_SHOT_TEMPLATES);
  summary.seconds = Math.round((Date.now() - t0) / 100) / 10;
  await writeJsonAtomic(path.join(out, "demo.json"), { ...summary, output: undefined, seconds: undefined, classHexcodes: classes.map((c) => c.hexcode) });
  await writeFileAtomic(path.join(out, "README.md"), demoReadme(summary, sets.map((s) => s.style), classes.map((c) => c.label), size, perImage, noise));
  return summary;
}
