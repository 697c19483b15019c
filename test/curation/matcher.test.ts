import { describe, it, expect } from "vitest";
import { buildMatcher, spaceText } from "../../src/curation/metaclip/matcher.js";
import { Rng } from "../../src/util/hash.js";

/** The literal definition: " e " occurs in MetaCLIP's spaced text. */
function bruteForce(entries: string[], text: string): number[] {
  const spaced = spaceText(text);
  const out: number[] = [];
  entries.forEach((e, i) => {
    if (spaced.includes(` ${e} `)) out.push(i);
  });
  return out;
}

function names(entries: string[], text: string): string[] {
  return Array.from(buildMatcher(entries).match(text), (i) => entries[i]!);
}

describe("MetaCLIP substring matching", () => {
  it("matches whole words only, case-sensitively", () => {
    const e = ["cat", "Dog", "bird"];
    expect(names(e, "a cat and a dog")).toEqual(["cat"]);
    expect(names(e, "concatenate Dogs catbird")).toEqual([]);
    expect(names(e, "Dog")).toEqual(["Dog"]);
    expect(names(e, "")).toEqual([]);
  });

  it("wraps , . ; : ? ! and backtick, turns tab/newline/CR into spaces", () => {
    const e = ["cat", "new york", "dog"];
    expect(names(e, "cat,dog")).toEqual(["cat", "dog"]);
    expect(names(e, "(cat)")).toEqual([]); // parentheses are not wrapped
    expect(names(e, "`cat`!dog?")).toEqual(["cat", "dog"]);
    expect(names(e, "new\tyork")).toEqual(["new york"]);
    expect(names(e, "new\nyork;cat:")).toEqual(["cat", "new york"]); // ascending ids
    expect(names(e, "new\r\nyork")).toEqual([]); // two spaces in between
    expect(names(e, "new  york")).toEqual([]);
    expect(names(e, "cat's")).toEqual([]); // apostrophe is not wrapped
  });

  it("counts overlapping and nested entries", () => {
    const e = ["york", "new york", "new york city", "city", "york city"];
    expect(names(e, "in new york city.")).toEqual(e);
    const ids = buildMatcher(["a a", "a"]).match("a a a");
    expect(Array.from(ids)).toEqual([0, 1]);
  });

  it("never matches entries that contain a wrapped punctuation mark", () => {
    const e = ["st. louis", "louis", "a,b", "e.g"];
    expect(names(e, "st. louis and a,b e.g")).toEqual(["louis"]);
    expect(names(e, "st louis")).toEqual(["louis"]);
  });

  it("handles unicode (BMP and astral) and returns ascending unique ids", () => {
    const e = ["café", "東京", "🐱 cat", "cat", "é"];
    expect(names(e, "café 東京 🐱 cat cat cafe")).toEqual(["café", "東京", "🐱 cat", "cat"]);
    expect(names(e, "caf é")).toEqual(["é"]);
    const m = buildMatcher(["b", "a", "b"]);
    expect(Array.from(m.match("b a b"))).toEqual([0, 1, 2]); // duplicates both match (literal definition)
  });

  it("agrees with the brute-force definition on random texts over a small alphabet", () => {
    const rng = new Rng(123);
    const alphabet = ["a", "b", "A", " ", " ", ".", ",", "\t", "\n", "`", "é", "x"];
    const word = (min: number, max: number) => {
      const n = min + rng.int(max - min + 1);
      let s = "";
      for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
      return s;
    };
    const entries = Array.from({ length: 300 }, () => word(1, 5));
    entries.push("", "a", "a b", "b a b");
    const m = buildMatcher(entries);
    let nonEmpty = 0;
    for (let t = 0; t < 1500; t++) {
      const text = word(0, 40);
      const got = Array.from(m.match(text));
      const want = bruteForce(entries, text);
      expect(got).toEqual(want);
      if (want.length) nonEmpty++;
    }
    expect(nonEmpty).toBeGreaterThan(500);
  });

  it("builds tens of thousands of entries into flat arrays", () => {
    const entries = Array.from({ length: 50_000 }, (_, i) => `w${i.toString(36)} x${(i * 7919) % 1000}`);
    const m = buildMatcher(entries);
    expect(m.size).toBe(50_000);
    expect(m.states).toBeGreaterThan(50_000);
    expect(Array.from(m.match("w0 x0 and w1 x919"))).toEqual([0, 1]);
  });
});
