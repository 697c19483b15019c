import { describe, expect, it } from "vitest";
import {
  averageTemplates,
  classificationMetrics,
  matmulT,
  normalizeRows,
  retrievalRecall,
  retrievalRecallBlockwise,
} from "../../src/eval/metrics.js";
import { Rng } from "../../src/util/hash.js";

// float64 reference of normalize -> average -> renormalize, written out directly.
function referenceClassifier(emb: number[][][]): number[][] {
  return emb.map((templates) => {
    const dim = templates[0].length;
    const sum = new Array<number>(dim).fill(0);
    for (const v of templates) {
      const norm = Math.hypot(...v);
      v.forEach((x, j) => (sum[j] += x / norm));
    }
    const mean = sum.map((x) => x / templates.length);
    const norm = Math.hypot(...mean);
    return mean.map((x) => x / norm);
  });
}

describe("template averaging", () => {
  it("matches a float64 normalize-average-renormalize", () => {
    const rng = new Rng(7);
    const classes = 3;
    const templates = 4;
    const dim = 5;
    // Very different scales per template: averaging unnormalized vectors would give another answer.
    const emb = Array.from({ length: classes }, () =>
      Array.from({ length: templates }, (_, t) => Array.from({ length: dim }, () => (rng.next() - 0.5) * 10 ** t)),
    );
    const flat = Float32Array.from(emb.flat(2));
    const got = averageTemplates(flat, classes, templates, dim);
    const want = referenceClassifier(emb);
    for (let c = 0; c < classes; c++) {
      for (let j = 0; j < dim; j++) expect(got[c * dim + j]).toBeCloseTo(want[c][j], 6);
    }
    // And it is not the same as averaging raw vectors then normalizing.
    const raw = emb.map((ts) => {
      const s = ts[0].map((_, j) => ts.reduce((a, v) => a + v[j], 0));
      const n = Math.hypot(...s);
      return s.map((x) => x / n);
    });
    expect(Math.abs(raw[0][0] - want[0][0]) + Math.abs(raw[0][1] - want[0][1])).toBeGreaterThan(1e-3);
  });

  it("hand example: two templates, two classes", () => {
    // class 0: (3,4)->(.6,.8) and (0,2)->(0,1); mean (.3,.9) -> /sqrt(.9)
    // class 1: (1,0) and (-1,0) cancel to zero; zero stays zero rather than NaN.
    const got = averageTemplates(Float32Array.from([3, 4, 0, 2, 1, 0, -1, 0]), 2, 2, 2);
    const n = Math.sqrt(0.09 + 0.81);
    expect(got[0]).toBeCloseTo(0.3 / n, 6);
    expect(got[1]).toBeCloseTo(0.9 / n, 6);
    expect([got[2], got[3]]).toEqual([0, 0]);
  });

  it("normalizeRows and matmulT agree with hand values; shape errors name the function", () => {
    expect(Array.from(normalizeRows(Float32Array.from([3, 4, 0, 0]), 2, 2))).toEqual([0.6, 0.8, 0, 0].map(Math.fround));
    expect(Array.from(matmulT(Float32Array.from([1, 2]), 1, Float32Array.from([3, 4, 5, 6]), 2, 2))).toEqual([11, 17]);
    expect(() => averageTemplates(new Float32Array(5), 1, 2, 2)).toThrow(/averageTemplates: expected 2x2=4 values, got 5/);
  });
});

describe("classification metrics", () => {
  // 4 samples, 4 classes.
  const logits = Float32Array.from([
    // label 0: correct, rank 0
    0.9, 0.1, 0.0, 0.0,
    // label 1: class 2 > class 1 > others -> rank 1 (top-2 hit, top-1 miss), predicted 2
    0.0, 0.5, 0.7, 0.1,
    // label 2: three classes above -> rank 3, predicted 0
    0.8, 0.6, 0.1, 0.4,
    // label 1: tie with class 3 at the maximum -> counts as error, predicted 3
    0.0, 0.5, 0.2, 0.5,
  ]);
  const labels = [0, 1, 2, 1];

  it("top-k with the ties-count-against rule", () => {
    const m = classificationMetrics(logits, 4, 4, labels, { ks: [1, 2, 3, 4] });
    expect(m.topk).toEqual({ 1: 0.25, 2: 0.75, 3: 0.75, 4: 1 });
    expect(m.n).toBe(4);
  });

  it("per-class accuracy, balanced mean and confused pairs", () => {
    const m = classificationMetrics(logits, 4, 4, labels);
    expect(m.perClass).toEqual([1, 0, 0, null]);
    expect(m.meanPerClass).toBeCloseTo(1 / 3, 12);
    expect(m.confused).toEqual([
      { label: 1, predicted: 2, count: 1 },
      { label: 1, predicted: 3, count: 1 },
      { label: 2, predicted: 0, count: 1 },
    ]);
  });

  it("confusions are counted and sorted by frequency", () => {
    // Three samples of class 0 predicted as 1, one of class 2 predicted as 0.
    const l = Float32Array.from([0, 1, 0, 0, 1, 0, 0, 2, 1, 1, 0, 0]);
    const m = classificationMetrics(l, 4, 3, [0, 0, 0, 2], { confusedPairs: 1 });
    expect(m.confused).toEqual([{ label: 0, predicted: 1, count: 3 }]);
    expect(m.topk[1]).toBe(0);
  });

  it("a constant classifier scores zero, NaN scores never count as hits", () => {
    const flat = new Float32Array(3 * 5).fill(0.3);
    // Top-4 of 5 tied classes misses; top-5 of 5 classes contains every class.
    expect(classificationMetrics(flat, 3, 5, [0, 2, 4], { ks: [1, 4, 5] }).topk).toEqual({ 1: 0, 4: 0, 5: 1 });
    const nan = Float32Array.from([NaN, 0, 0, 1, NaN, 0]);
    // Row 0: the true class is NaN -> miss even at k = 3. Row 1: a NaN rival does not outrank 1.
    expect(classificationMetrics(nan, 2, 3, [0, 0], { ks: [1, 3] }).topk).toEqual({ 1: 0.5, 3: 0.5 });
  });

  it("agrees with brute-force sorting on random logits (no ties)", () => {
    const rng = new Rng(3);
    const n = 200;
    const c = 12;
    const l = Float32Array.from({ length: n * c }, () => rng.next());
    const y = Array.from({ length: n }, () => Math.floor(rng.next() * c));
    const m = classificationMetrics(l, n, c, y, { ks: [1, 5] });
    for (const k of [1, 5]) {
      let hits = 0;
      for (let i = 0; i < n; i++) {
        const order = [...Array(c).keys()].sort((a, b) => l[i * c + b] - l[i * c + a]);
        if (order.slice(0, k).includes(y[i])) hits++;
      }
      expect(m.topk[k]).toBe(hits / n);
    }
  });

  it("rejects labels outside the class range", () => {
    expect(() => classificationMetrics(new Float32Array(4), 2, 2, [0, 2])).toThrow(/label 2 at row 1/);
  });
});

describe("retrieval recall", () => {
  // 3 images, 5 texts; image 0 has captions 0,1; image 1 has 2,3; image 2 has 4.
  const textImage = [0, 0, 1, 1, 2];
  const sim = Float32Array.from([
    // image 0: best own caption (1) ranks first -> hit@1
    0.2, 0.9, 0.5, 0.1, 0.0,
    // image 1: own captions 2 (0.4) and 3 (0.3); wrong texts 0 (0.8) and 4 (0.6) above -> rank 2
    0.8, 0.1, 0.4, 0.3, 0.6,
    // image 2: own caption 4 ties with wrong text 0 -> tie counts against: rank 1
    0.7, 0.2, 0.2, 0.1, 0.7,
  ]);

  it("image->text with several captions per image and ties", () => {
    const m = retrievalRecall(sim, 3, 5, textImage, [1, 2, 3]);
    expect(m.imageToText).toEqual({ 1: 1 / 3, 2: 2 / 3, 3: 1 });
  });

  it("text->image reads columns", () => {
    // text 0 (img 0): column [0.2, 0.8, 0.7] -> rank 2
    // text 1 (img 0): [0.9, 0.1, 0.2] -> rank 0
    // text 2 (img 1): [0.5, 0.4, 0.2] -> rank 1
    // text 3 (img 1): [0.1, 0.3, 0.1] -> rank 0
    // text 4 (img 2): [0.0, 0.6, 0.7] -> rank 0
    const m = retrievalRecall(sim, 3, 5, textImage, [1, 2, 3]);
    expect(m.textToImage).toEqual({ 1: 3 / 5, 2: 4 / 5, 3: 1 });
  });

  it("other captions of the same image never count against it", () => {
    // Image 0 has captions 0,1,2 that all outrank the single wrong caption 3.
    const s = Float32Array.from([0.9, 0.8, 0.7, 0.1, 0.2, 0.2, 0.2, 0.9]);
    const m = retrievalRecall(s, 2, 4, [0, 0, 0, 1], [1]);
    expect(m.imageToText[1]).toBe(1);
    // Image 1: caption 3 at 0.9 above all -> hit; texts 0..2 rank 0 for image 0, text 3 for image 1.
    expect(m.textToImage[1]).toBe(1);
  });

  it("an all-equal similarity matrix scores zero both ways", () => {
    const m = retrievalRecall(new Float32Array(3 * 6).fill(1), 3, 6, [0, 0, 1, 1, 2, 2], [1, 2]);
    expect(m.imageToText).toEqual({ 1: 0, 2: 0 });
    expect(m.textToImage).toEqual({ 1: 0, 2: 0 });
  });

  it("agrees with brute force on random similarities", () => {
    const rng = new Rng(11);
    const images = 20;
    const ti = Array.from({ length: 60 }, (_, t) => t % images);
    const texts = ti.length;
    const s = Float32Array.from({ length: images * texts }, () => rng.next());
    const m = retrievalRecall(s, images, texts, ti, [1, 5, 10]);
    for (const k of [1, 5, 10]) {
      let hitsI = 0;
      for (let i = 0; i < images; i++) {
        const order = [...Array(texts).keys()].sort((a, b) => s[i * texts + b] - s[i * texts + a]);
        if (order.slice(0, k).some((t) => ti[t] === i)) hitsI++;
      }
      let hitsT = 0;
      for (let t = 0; t < texts; t++) {
        const order = [...Array(images).keys()].sort((a, b) => s[b * texts + t] - s[a * texts + t]);
        if (order.slice(0, k).includes(ti[t])) hitsT++;
      }
      expect(m.imageToText[k]).toBe(hitsI / images);
      expect(m.textToImage[k]).toBe(hitsT / texts);
    }
  });

  it("blockwise recall equals a brute-force rank count over the full matrix, with heavy ties and NaNs, for any block", () => {
    const rng = new Rng(17);
    // Pessimistic ties: a wrong candidate scoring >= the correct one counts against it.
    const brute = (s: Float32Array, images: number, texts: number, ti: number[], k: number) => {
      let hi = 0;
      for (let i = 0; i < images; i++) {
        let best = Infinity;
        for (let t = 0; t < texts; t++) {
          if (ti[t] !== i || Number.isNaN(s[i * texts + t])) continue;
          let r = 0;
          for (let u = 0; u < texts; u++) if (ti[u] !== i && s[i * texts + u] >= s[i * texts + t]) r++;
          best = Math.min(best, r);
        }
        if (best < k) hi++;
      }
      let ht = 0;
      for (let t = 0; t < texts; t++) {
        const own = s[ti[t]! * texts + t]!;
        if (Number.isNaN(own)) continue;
        let r = 0;
        for (let i = 0; i < images; i++) if (i !== ti[t] && s[i * texts + t]! >= own) r++;
        if (r < k) ht++;
      }
      return { i2t: hi / images, t2i: ht / texts };
    };
    for (let trial = 0; trial < 5; trial++) {
      const images = 5 + rng.int(20);
      const ti = Array.from({ length: images * 2 + rng.int(10) }, (_, t) => (t < images ? t : rng.int(images)));
      const texts = ti.length;
      const s = Float32Array.from({ length: images * texts }, () => (rng.next() < 0.03 ? NaN : rng.int(4) / 4)); // 4 values: heavy ties
      const full = retrievalRecall(s, images, texts, ti, [1, 2, 5]);
      for (const k of [1, 2, 5]) {
        const b = brute(s, images, texts, ti, k);
        expect(full.imageToText[k]).toBe(b.i2t);
        expect(full.textToImage[k]).toBe(b.t2i);
      }
      for (const block of [1, 2, 3, 7, images, images + 5]) {
        let maxRows = 0;
        const got = retrievalRecallBlockwise((start, rows) => {
          maxRows = Math.max(maxRows, rows);
          return s.slice(start * texts, (start + rows) * texts);
        }, images, texts, ti, [1, 2, 5], block);
        expect(got).toEqual(full);
        expect(maxRows).toBe(Math.min(block, images));
      }
    }
  });

  it("rejects images without captions and bad indices", () => {
    expect(() => retrievalRecall(new Float32Array(4), 2, 2, [0, 0])).toThrow(/image 1 has no caption/);
    expect(() => retrievalRecall(new Float32Array(4), 2, 2, [0, 5])).toThrow(/text 1 points to image 5/);
  });
});
