import { describe, expect, it } from "vitest";
import { lrAt } from "../../src/train/schedule.js";

describe("lr schedules (open_clip semantics)", () => {
  const base = { baseLr: 5e-4, warmup: 2000, steps: 390625 };
  it("warms up linearly with (step+1)/warmup", () => {
    const o = { ...base, kind: "cosine" as const };
    expect(lrAt(0, o)).toBeCloseTo(5e-4 / 2000, 15);
    expect(lrAt(999, o)).toBeCloseTo(5e-4 * 0.5, 15);
    expect(lrAt(1999, o)).toBeCloseTo(5e-4, 15);
  });
  it("cosine: peak after warmup, half at the midpoint, 0 at the end", () => {
    const o = { ...base, kind: "cosine" as const };
    expect(lrAt(2000, o)).toBeCloseTo(5e-4, 15);
    const mid = 2000 + (390625 - 2000) / 2;
    expect(lrAt(mid, o)).toBeCloseTo(2.5e-4, 12);
    expect(lrAt(390625, o)).toBeCloseTo(0, 15);
    // A quarter of the way: 0.5*(1+cos(pi/4)).
    const q = 2000 + (390625 - 2000) / 4;
    expect(lrAt(q, o)).toBeCloseTo(5e-4 * 0.5 * (1 + Math.SQRT1_2), 12);
  });
  it("const stays at base lr", () => {
    const o = { ...base, kind: "const" as const };
    expect(lrAt(5, o)).toBeCloseTo(5e-4 * 6 / 2000, 15);
    expect(lrAt(2000, o)).toBe(5e-4);
    expect(lrAt(390000, o)).toBe(5e-4);
  });
  it("const-cooldown decays linearly (power 1) or polynomially to the end lr", () => {
    const o = { kind: "const-cooldown" as const, baseLr: 1e-3, warmup: 10, steps: 100, cooldownSteps: 20 };
    expect(lrAt(79, o)).toBe(1e-3);
    expect(lrAt(80, o)).toBeCloseTo(1e-3, 15);
    expect(lrAt(90, o)).toBeCloseTo(5e-4, 15);
    expect(lrAt(99, o)).toBeCloseTo(1e-3 / 20, 15);
    const p2 = { ...o, cooldownPower: 2, cooldownEndLr: 1e-4 };
    expect(lrAt(90, p2)).toBeCloseTo(0.25 * (1e-3 - 1e-4) + 1e-4, 15);
  });
});
