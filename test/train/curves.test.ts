import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { curvesSvg, readTrainingCurves, writeTrainingCurves } from "../../src/train/curves.js";

const dir = mkdtempSync(path.join(tmpdir(), "clipts-curves-"));

function writeLog(name: string, lines: string[]): string {
  const f = path.join(dir, name);
  writeFileSync(f, lines.join("\n") + "\n");
  return f;
}

describe("training curves plot", () => {
  it("reads loss and every eval metric per step; a rewritten step (resume) replaces the old value; bad lines are skipped", async () => {
    const f = writeLog("log.jsonl", [
      JSON.stringify({ step: 10, time: 1, loss: 4.1, lr: 1e-3 }),
      JSON.stringify({ step: 20, time: 2, loss: 3.9, lr: 1e-3 }),
      JSON.stringify({ step: 20, time: 3, split: "eval", "emoji-zeroshot/top1": 0.05, "emoji-retrieval/mean_r1": 0.01 }),
      "{not json",
      JSON.stringify({ step: 30, time: 4, loss: 3.5 }),
      // A resumed run rewrote step 30 and went on.
      JSON.stringify({ step: 30, time: 5, loss: 3.4 }),
      JSON.stringify({ step: 40, time: 6, loss: 3.0 }),
      JSON.stringify({ step: 40, time: 7, split: "eval", "emoji-zeroshot/top1": 0.12, "emoji-retrieval/mean_r1": 0.03 }),
    ]);
    const c = await readTrainingCurves(f);
    expect(c.loss.points).toEqual([[10, 4.1], [20, 3.9], [30, 3.4], [40, 3.0]]);
    expect(c.eval.map((s) => s.name)).toEqual(["emoji-retrieval/mean_r1", "emoji-zeroshot/top1"]);
    expect(c.eval[1]!.points).toEqual([[20, 0.05], [40, 0.12]]);
    // The chart shows the headline metrics, not every detail metric of the suite.
    const f2 = writeLog("log-detail.jsonl", [JSON.stringify({ step: 1, loss: 2 }), JSON.stringify({ step: 1, split: "eval", "t/top1": 0.1, "t/top5": 0.3, "r/mean_recall@1": 0.01 })]);
    const svg = curvesSvg(await readTrainingCurves(f2), "x");
    expect(svg).toContain("t/top1");
    expect(svg).toContain("r/mean_recall@1");
    expect(svg).not.toContain("t/top5");
  });

  it("writes one SVG with a loss chart and an eval chart, one line per series", async () => {
    const f = writeLog("log2.jsonl", [
      JSON.stringify({ step: 1, loss: 2 }),
      JSON.stringify({ step: 2, loss: 1 }),
      JSON.stringify({ step: 2, split: "eval", a: 0.1, b: 0.2 }),
      JSON.stringify({ step: 4, split: "eval", a: 0.3, b: 0.4 }),
    ]);
    const out = path.join(dir, "curves.svg");
    expect(await writeTrainingCurves(f, out, "demo")).toBe(true);
    const svg = readFileSync(out, "utf8");
    expect(svg.match(/<svg /g)).toHaveLength(3); // outer + 2 charts
    expect(svg).toContain("demo: training loss");
    expect(svg).toContain("demo: eval metrics");
    expect(svg.match(/<path d="M/g)).toHaveLength(3); // loss, a, b
  });

  it("writes nothing for a log with nothing to plot", async () => {
    const f = writeLog("empty.jsonl", ["", "garbage"]);
    expect(await writeTrainingCurves(f, path.join(dir, "none.svg"))).toBe(false);
    expect(curvesSvg({ loss: { name: "l", points: [] }, eval: [] }, "x")).toBe("");
  });
});
