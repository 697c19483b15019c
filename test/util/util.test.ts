import { describe, it, expect } from "vitest";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { hashUniform, Rng } from "../../src/util/hash.js";
import { writeFileAtomic, AtomicWriter } from "../../src/util/atomic.js";
import { lineChart, barChart } from "../../src/util/plot.js";

describe("hashUniform", () => {
  it("depends only on its inputs and is uniform", () => {
    expect(hashUniform(1, "a", 3)).toBe(hashUniform(1, "a", 3));
    expect(hashUniform(1, "a", 3)).not.toBe(hashUniform(2, "a", 3));
    expect(hashUniform(1, "a", 3)).not.toBe(hashUniform(1, "a", 4));
    const n = 20000;
    let sum = 0;
    const bins = new Array(10).fill(0);
    for (let i = 0; i < n; i++) {
      const u = hashUniform(7, `k${i}`, i % 13);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += u;
      bins[Math.floor(u * 10)]++;
    }
    // mean of U(0,1) has sd 1/sqrt(12 n) ~ 0.002; allow 5 sd
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
    // chi-square with 9 dof: 99.9th percentile is 27.9
    const chi = bins.reduce((a, b) => a + (b - n / 10) ** 2 / (n / 10), 0);
    expect(chi).toBeLessThan(27.9);
  });
});

describe("Rng", () => {
  it("replays from a saved state", () => {
    const a = new Rng(42);
    a.next(); a.next();
    const saved = a.state;
    const x = [a.next(), a.next()];
    const b = new Rng(saved);
    expect([b.next(), b.next()]).toEqual(x);
  });
});

describe("atomic writes", () => {
  it("leaves no temporary files and only commits on commit()", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "clipts-atomic-"));
    await writeFileAtomic(path.join(dir, "a.txt"), "hello");
    expect(readFileSync(path.join(dir, "a.txt"), "utf8")).toBe("hello");
    const w = new AtomicWriter(path.join(dir, "b.txt"));
    await w.write("partial");
    expect(readdirSync(dir).filter((f) => f === "b.txt")).toEqual([]);
    await w.abort();
    expect(readdirSync(dir)).toEqual(["a.txt"]);
  });
});

describe("plots", () => {
  it("produce well-formed SVG with every series", () => {
    const svg = lineChart({
      title: "t", xLabel: "x", yLabel: "y", logY: true,
      series: [{ name: "before", points: [[1, 10], [2, 100]] }, { name: "after", points: [[1, 5], [2, 50]] }],
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("before");
    expect((svg.match(/<path /g) ?? []).length).toBe(2);
    const bars = barChart({ title: "b", yLabel: "acc", categories: ["raw", "balanced"], series: [{ name: "top1", values: [0.1, 0.2], errors: [0.01, 0.02] }] });
    expect((bars.match(/<rect x=/g) ?? []).length).toBeGreaterThanOrEqual(2);
  });
});
