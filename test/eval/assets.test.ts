import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { builtinAssets, fillTemplate, imagenetWnidMap, imagenetWnids, readStringList } from "../../src/eval/assets.js";
import { resolveClassFolders, scanImageFolder } from "../../src/eval/image-folder.js";

describe("shipped assets", () => {
  it("ImageNet: 1000 names, 80 templates, 1000 sorted unique wnids", () => {
    const a = builtinAssets("imagenet");
    expect(a.classnames).toHaveLength(1000);
    expect(a.templates).toHaveLength(80);
    expect(a.templates.every((t) => t.includes("{}"))).toBe(true);
    const w = imagenetWnids();
    expect(w).toHaveLength(1000);
    expect(new Set(w).size).toBe(1000);
    expect([...w].sort()).toEqual(w);
  });

  it("CIFAR-10 / CIFAR-100 names and templates", () => {
    expect(builtinAssets("cifar10").classnames).toEqual(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]);
    const c100 = builtinAssets("cifar100");
    expect(c100.classnames).toHaveLength(100);
    expect(c100.classnames[1]).toBe("aquarium fish");
    expect(c100.templates.length).toBeGreaterThan(0);
  });

  it("wnid map: known WordNet synsets and class indices", () => {
    const map = imagenetWnidMap();
    const w = imagenetWnids();
    const names = builtinAssets("imagenet").classnames;
    expect(map.size).toBe(1000);
    expect(map.get("n01440764")![0]).toBe("tench");
    expect(w.indexOf("n01440764")).toBe(0);
    expect(map.get("n01443537")).toEqual(["goldfish", "Carassius auratus"]);
    // Last class: toilet tissue (index 999).
    expect(w[999]).toBe("n15075141");
    expect(map.get("n15075141")![0]).toBe("toilet tissue");
    expect(names[999]).toBe("toilet paper");
    // Index 207 is the golden retriever in every ImageNet-1k label list.
    expect(w[207]).toBe("n02099601");
    expect(map.get("n02099601")![0]).toBe("golden retriever");
    expect(names[207]).toBe("Golden Retriever");
    // Both cranes: WordNet names them the same, the OpenAI names do not.
    expect(map.get("n02012849")).toEqual(["crane"]);
    expect(map.get("n03126707")).toEqual(["crane"]);
    expect(names[w.indexOf("n02012849")]).toBe("crane bird");
    expect(names[w.indexOf("n03126707")]).toBe("construction crane");
  });

  it("fillTemplate and list files", () => {
    expect(fillTemplate("a photo of a {}.", "red square")).toBe("a photo of a red square.");
    const dir = mkdtempSync(path.join(os.tmpdir(), "clipts-assets-"));
    writeFileSync(path.join(dir, "names.txt"), "# comment\ncat\n\n dog \n");
    expect(readStringList(path.join(dir, "names.txt"), "classnames")).toEqual(["cat", "dog"]);
    writeFileSync(path.join(dir, "bad.json"), '["a", 3]');
    expect(() => readStringList(path.join(dir, "bad.json"), "classnames")).toThrow(/bad\.json: entry 1 is not a non-empty string/);
  });
});

describe("class folders", () => {
  const classnames = ["tench", "goldfish", "great white shark"];
  const wnids = ["n01440764", "n01443537", "n01484850"];
  const lemmas = [["tench", "Tinca tinca"], ["goldfish", "Carassius auratus"], ["great white shark", "white shark", "man-eater"]];

  it("maps wnids, class names (case/underscore-insensitive), lemmas and indices", () => {
    const m = resolveClassFolders(["n01484850", "Goldfish", "Tinca_tinca"], { classnames, wnids, lemmas }, "d");
    expect(m.get("n01484850")).toEqual({ label: 2, by: "wnid" });
    expect(m.get("Goldfish")).toEqual({ label: 1, by: "classname" });
    expect(m.get("Tinca_tinca")).toEqual({ label: 0, by: "lemma" });
    expect(resolveClassFolders(["2", "0"], { classnames }, "d").get("2")).toEqual({ label: 2, by: "index" });
  });

  it("unknown, ambiguous or doubled folders fail before any image is read, naming them", () => {
    expect(() => resolveClassFolders(["n01440764", "zebra"], { classnames, wnids }, "/data/val")).toThrow(/\/data\/val: 1 class folder\(s\) match no class.*"zebra"/);
    const ambiguous = { classnames: ["crane bird", "construction crane"], lemmas: [["crane"], ["crane"]] };
    expect(() => resolveClassFolders(["crane"], ambiguous, "d")).toThrow(/"crane"/);
    expect(() => resolveClassFolders(["tench", "n01440764"], { classnames, wnids }, "d")).toThrow(/both map to class 0/);
  });

  it("scans <dir>/<class>/<image> in sorted order with perClass", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "clipts-folder-"));
    for (const [f, files] of [["n01443537", ["b.JPEG", "a.JPEG", "notes.txt"]], ["n01440764", ["x.png"]]] as const) {
      mkdirSync(path.join(dir, f));
      for (const n of files) writeFileSync(path.join(dir, f, n), "");
    }
    const s = scanImageFolder(dir, { classnames, wnids });
    expect(s.items.map((i) => [path.basename(i.file), i.label])).toEqual([["x.png", 0], ["a.JPEG", 1], ["b.JPEG", 1]]);
    expect(s.matchedBy.wnid).toBe(2);
    expect(scanImageFolder(dir, { classnames, wnids }, { perClass: 1 }).items).toHaveLength(2);
    expect(() => scanImageFolder(path.join(dir, "nope"), { classnames })).toThrow(/nope: cannot read/);
  });
});
