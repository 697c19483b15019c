// Pure evaluation math: arrays in, numbers out. No tensors, no I/O, so every
// formula here is tested against hand computations.
//
// Tie rule (classification and retrieval alike): ties count against the model.
// The correct item is "within the top k" only when fewer than k wrong
// candidates score greater than *or equal to* it. A collapsed model that gives
// every candidate the same score therefore scores 0, not a lucky 1/n or 1, and
// the result never depends on candidate order. A NaN score of the correct item
// is always a miss; NaN scores of wrong candidates never outrank anything.

/** L2-normalize each row of a row-major `[rows, dim]` matrix (copy). Zero rows stay zero. */
export function normalizeRows(x: Float32Array, rows: number, dim: number): Float32Array {
  checkShape(x, rows, dim, "normalizeRows");
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[r * dim + j] ** 2;
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let j = 0; j < dim; j++) out[r * dim + j] = x[r * dim + j] * inv;
  }
  return out;
}

/**
 * Zero-shot classifier weights from template embeddings laid out
 * `[classes * templates, dim]` (class-major: all templates of class 0 first).
 * Each embedding is normalized, the templates of a class are averaged, and the
 * average is normalized again (CLIP's prompt ensembling). Returns `[classes, dim]`.
 */
export function averageTemplates(emb: Float32Array, classes: number, templates: number, dim: number): Float32Array {
  checkShape(emb, classes * templates, dim, "averageTemplates");
  const unit = normalizeRows(emb, classes * templates, dim);
  const mean = new Float32Array(classes * dim);
  for (let c = 0; c < classes; c++) {
    for (let t = 0; t < templates; t++) {
      const row = (c * templates + t) * dim;
      for (let j = 0; j < dim; j++) mean[c * dim + j] += unit[row + j];
    }
  }
  return normalizeRows(mean, classes, dim);
}

/** `a [n, d] · bᵀ [m, d]` -> `[n, m]`, accumulated in float64. */
export function matmulT(a: Float32Array, n: number, b: Float32Array, m: number, dim: number): Float32Array {
  checkShape(a, n, dim, "matmulT(a)");
  checkShape(b, m, dim, "matmulT(b)");
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < m; k++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += a[i * dim + j] * b[k * dim + j];
      out[i * m + k] = s;
    }
  }
  return out;
}

/**
 * Rank of the correct candidate among `scores[start .. start+count)` under the
 * tie rule above: the number of wrong candidates scoring >= the correct one.
 * `isCorrect(j)` marks the other correct candidates, which never count against.
 */
function rankOf(scores: Float32Array, start: number, count: number, target: number, isCorrect: (j: number) => boolean): number {
  const s = scores[start + target];
  if (Number.isNaN(s)) return Infinity;
  let rank = 0;
  for (let j = 0; j < count; j++) {
    if (j === target || isCorrect(j)) continue;
    if (scores[start + j] >= s) rank++;
  }
  return rank;
}

export interface ConfusedPair {
  /** True class index. */
  label: number;
  /** Predicted class index. */
  predicted: number;
  count: number;
}

export interface ClassificationMetrics {
  n: number;
  /** Top-k accuracy for each requested k, e.g. `{1: 0.71, 5: 0.9}`. */
  topk: Record<number, number>;
  /** Top-1 accuracy per class; null for classes without samples. */
  perClass: (number | null)[];
  /** Mean of the per-class accuracies over classes that have samples (balanced accuracy). */
  meanPerClass: number;
  /** Most frequent (label, predicted) errors, most frequent first. */
  confused: ConfusedPair[];
}

/**
 * Top-k, per-class accuracy and confusions from `logits [n, classes]` and true
 * `labels`. The predicted class (for confusions) is the highest-scoring class;
 * when the true class ties with others for the maximum the prediction is the
 * lowest-indexed *other* tied class, consistent with ties counting as errors.
 */
export function classificationMetrics(
  logits: Float32Array,
  n: number,
  classes: number,
  labels: ArrayLike<number>,
  opts: { ks?: number[]; confusedPairs?: number } = {},
): ClassificationMetrics {
  checkShape(logits, n, classes, "classificationMetrics");
  if (labels.length !== n) throw new Error(`classificationMetrics: ${labels.length} labels for ${n} rows`);
  const ks = opts.ks ?? [1, 5];
  const hits = new Map<number, number>(ks.map((k) => [k, 0]));
  const correctPerClass = new Array<number>(classes).fill(0);
  const countPerClass = new Array<number>(classes).fill(0);
  const confusion = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= classes) throw new Error(`classificationMetrics: label ${y} at row ${i} outside [0, ${classes})`);
    const rank = rankOf(logits, i * classes, classes, y, () => false);
    for (const k of ks) if (rank < k) hits.set(k, hits.get(k)! + 1);
    countPerClass[y]++;
    if (rank === 0) {
      correctPerClass[y]++;
    } else {
      const pred = predictedClass(logits, i * classes, classes, y);
      const key = y * classes + pred;
      confusion.set(key, (confusion.get(key) ?? 0) + 1);
    }
  }
  const topk: Record<number, number> = {};
  for (const k of ks) topk[k] = n > 0 ? hits.get(k)! / n : 0;
  const perClass = countPerClass.map((c, i) => (c > 0 ? correctPerClass[i] / c : null));
  const present = perClass.filter((v): v is number => v !== null);
  const meanPerClass = present.length > 0 ? present.reduce((a, b) => a + b, 0) / present.length : 0;
  const confused = [...confusion.entries()]
    .map(([key, count]) => ({ label: Math.floor(key / classes), predicted: key % classes, count }))
    .sort((a, b) => b.count - a.count || a.label - b.label || a.predicted - b.predicted)
    .slice(0, opts.confusedPairs ?? 10);
  return { n, topk, perClass, meanPerClass, confused };
}

/** Highest-scoring wrong class of a misclassified row (lowest index among ties; NaN never wins). */
function predictedClass(logits: Float32Array, start: number, classes: number, label: number): number {
  let best = -1;
  let bestScore = -Infinity;
  for (let j = 0; j < classes; j++) {
    if (j === label) continue;
    const s = logits[start + j];
    if (best < 0 || s > bestScore) {
      best = j;
      bestScore = Number.isNaN(s) ? -Infinity : s;
    }
  }
  return best;
}

export interface RetrievalMetrics {
  images: number;
  texts: number;
  /** Image -> text recall@k: an image is a hit when any of its captions is within the top k texts. */
  imageToText: Record<number, number>;
  /** Text -> image recall@k: a caption is a hit when its image is within the top k images. */
  textToImage: Record<number, number>;
}

/**
 * Recall@k both ways from `sim [images, texts]` (row-major) and the image
 * index of every text (several texts per image allowed). For image -> text the
 * image's other captions never count against it; the best-ranked caption
 * decides. Images without any caption are an error.
 */
export function retrievalRecall(
  sim: Float32Array,
  images: number,
  texts: number,
  textImage: ArrayLike<number>,
  ks: number[] = [1, 5, 10],
): RetrievalMetrics {
  checkShape(sim, images, texts, "retrievalRecall");
  return retrievalRecallBlockwise((start, rows) => sim.subarray(start * texts, (start + rows) * texts), images, texts, textImage, ks, Math.max(1, images));
}

/**
 * retrievalRecall over row blocks of the similarity matrix: `simRows(start,
 * rows)` returns rows [start, start+rows) (`rows x texts`), called twice per
 * block (pass 1: image -> text ranks and each text's score with its own image;
 * pass 2: for each text, the other images scoring >= that score). Memory is one
 * block plus O(images + texts); the counts equal the full matrix's exactly when
 * the blocks hold the same values (same tie rule: ties count against).
 */
export function retrievalRecallBlockwise(
  simRows: (start: number, rows: number) => Float32Array,
  images: number,
  texts: number,
  textImage: ArrayLike<number>,
  ks: number[] = [1, 5, 10],
  block = 1024,
): RetrievalMetrics {
  if (textImage.length !== texts) throw new Error(`retrievalRecall: ${textImage.length} text->image indices for ${texts} texts`);
  if (!(Number.isInteger(block) && block > 0)) throw new Error(`retrievalRecall: block must be a positive integer, got ${block}`);
  const captionsOf: number[][] = Array.from({ length: images }, () => []);
  for (let t = 0; t < texts; t++) {
    const i = textImage[t];
    if (!Number.isInteger(i) || i < 0 || i >= images) throw new Error(`retrievalRecall: text ${t} points to image ${i} outside [0, ${images})`);
    captionsOf[i].push(t);
  }
  for (let i = 0; i < images; i++) if (captionsOf[i].length === 0) throw new Error(`retrievalRecall: image ${i} has no caption`);
  const rowsOf = (start: number): Float32Array => {
    const rows = Math.min(block, images - start);
    const r = simRows(start, rows);
    checkShape(r, rows, texts, "retrievalRecall block");
    return r;
  };
  const i2t = new Map<number, number>(ks.map((k) => [k, 0]));
  // Pass 1: image -> text (row-local) and each text's score with its image.
  const own = new Float32Array(texts);
  for (let start = 0; start < images; start += block) {
    const sim = rowsOf(start);
    const rows = Math.min(block, images - start);
    for (let r = 0; r < rows; r++) {
      const i = start + r;
      const mine = new Set(captionsOf[i]);
      let best = Infinity;
      for (const t of captionsOf[i]) {
        best = Math.min(best, rankOf(sim, r * texts, texts, t, (j) => mine.has(j)));
        own[t] = sim[r * texts + t];
      }
      for (const k of ks) if (best < k) i2t.set(k, i2t.get(k)! + 1);
    }
  }
  // Pass 2: text -> image rank = other images scoring >= the text's own score.
  const rank = new Float64Array(texts);
  for (let start = 0; start < images; start += block) {
    const sim = rowsOf(start);
    const rows = Math.min(block, images - start);
    for (let r = 0; r < rows; r++) {
      const i = start + r;
      const off = r * texts;
      for (let t = 0; t < texts; t++) if (i !== textImage[t] && sim[off + t] >= own[t]) rank[t]++;
    }
  }
  const t2i = new Map<number, number>(ks.map((k) => [k, 0]));
  for (let t = 0; t < texts; t++) {
    // A NaN score with its own image never counts as a hit.
    const rk = Number.isNaN(own[t]) ? Infinity : rank[t];
    for (const k of ks) if (rk < k) t2i.set(k, t2i.get(k)! + 1);
  }
  const rec = (m: Map<number, number>, d: number) => Object.fromEntries(ks.map((k) => [k, d > 0 ? m.get(k)! / d : 0]));
  return { images, texts, imageToText: rec(i2t, images), textToImage: rec(t2i, texts) };
}

function checkShape(x: Float32Array, rows: number, cols: number, what: string): void {
  if (x.length !== rows * cols) throw new Error(`${what}: expected ${rows}x${cols}=${rows * cols} values, got ${x.length}`);
}
