import { describe, it, expect } from "vitest";
import { parseKeyText } from "../../src/curation/fast-json.js";
import { Rng } from "../../src/util/hash.js";

/** What the full parser says about key and text, or "invalid". */
function reference(line: string): { key: unknown; text: unknown } | "invalid" {
  try {
    const v = JSON.parse(line) as unknown;
    if (v === null || typeof v !== "object" || Array.isArray(v)) return { key: undefined, text: undefined };
    const o = v as { key?: unknown; text?: unknown };
    return { key: o.key, text: o.text };
  } catch {
    return "invalid";
  }
}

describe("fast JSONL path", () => {
  it("takes the common lines", () => {
    expect(parseKeyText('{"key": "k1", "text": "a red car"}')).toEqual({ key: "k1", text: "a red car" });
    expect(parseKeyText('{"text":"x","url":"http://a","key":"k"}\r')).toEqual({ key: "k", text: "x" });
    expect(parseKeyText('{"key":"a","key":"b"}')).toEqual({ key: "b", text: undefined }); // last wins, as JSON.parse
    expect(parseKeyText("{}")).toEqual({ key: undefined, text: undefined });
  });

  it("defers everything unusual to JSON.parse", () => {
    for (const l of ['{"key": "a\\"b"}', '{"key": 1}', '{"key": "a"} x', '{"key": "a",}', '{"k\tey": "a"}', '{"key": "a\tb"}',
      '{"__proto__": "x"}', '{"key": "a\rb"}', '["key"]', '{"key": "a" "text": "b"}', '{"key" "a"}', '{"key": "a"', "", "  "]) {
      expect(parseKeyText(l)).toBeUndefined();
    }
    expect(parseKeyText('{\t"key":\t"a"\t}')).toEqual({ key: "a", text: undefined }); // tabs as whitespace are fine
  });

  it("never disagrees with JSON.parse on random lines", () => {
    const rng = new Rng(17);
    const pieces = ["{", "}", '"', "key", "text", ":", ",", " ", "\t", "\r", "a", "é", "\\", "\\n", "1", "null", "[", "]", "\u0001", "url", "__proto__", "\ud83d"];
    let fast = 0;
    const templates = ['{"key": "A", "text": "B"}', '{"text":"B","key":"A"}', '{"key":"A"}', '{"key": "A", "text": "B", "x": "C"}'];
    for (let n = 0; n < 20000; n++) {
      let line: string;
      if (n % 2 === 0) {
        // Mutations of valid lines: the interesting boundary.
        line = templates[rng.int(templates.length)]!.replace(/[ABC]/g, () => Array.from({ length: rng.int(4) }, () => pieces[rng.int(pieces.length)]).join(""));
      } else {
        line = Array.from({ length: rng.int(12) }, () => pieces[rng.int(pieces.length)]).join("");
      }
      const got = parseKeyText(line);
      if (got === undefined) continue;
      fast++;
      expect(reference(line), line).toEqual(got);
    }
    expect(fast).toBeGreaterThan(3000);
  });
});
