import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildMetadata, loadMetadata, readWordnet } from "../../src/curation/metaclip/metadata.js";
import { InputError } from "../../src/util/errors.js";

const dir = mkdtempSync(path.join(tmpdir(), "clipts-meta-"));
const file = (name: string, text: string | Buffer) => {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
};

// WordNet data-file format: license lines start with two spaces; synset lines are
// "offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] p_cnt ... | gloss".
const LICENSE = "  1 This software and database is being provided to you, the LICENSEE, by  \n  2 Princeton University under the following license.  \n";
const noun =
  LICENSE +
  "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived  \n" +
  "00002137 03 n 02 abstraction 0 abstract_entity 0 010 @ 00001740 n 0000 | a general concept  \n" +
  "02084071 05 n 05 dog 0 domestic_dog 0 Canis_familiaris 0 002 @ 02083346 n 0000 | a member of the genus Canis  \n" +
  "09044862 15 n 02 New_York 0 NY 0 001 @ 08524735 n 0000 | the largest city  \n" +
  "garbage line\n";
const adj =
  LICENSE +
  "00001740 00 a 01 able 0 005 = 05207437 n 0000 | having the necessary means  \n" +
  "00004413 00 s 02 long(a) 0 abundant 0 000 | a long list  \n" +
  "00005205 00 a 01 afraid(p) 0 000 | filled with fear  \n" +
  "00006032 00 a 01 dog 0 000 | duplicate of a noun lemma  \n";

describe("metadata", () => {
  it("reads WordNet synset names like NLTK: first lemma, lower case, no marker, _ -> space", async () => {
    const r = await readWordnet(file("wn/data.noun", noun));
    expect(r.entries).toEqual(["entity", "abstraction", "dog", "new york"]);
    expect(r.badLines).toBe(1);
    await expect(readWordnet(file("notwn.txt", "hello world\n"))).rejects.toThrow(/notwn.txt: not a WordNet data file \(line 1/);
  });

  it("builds the entry list in MetaCLIP order with thresholds, dedupe and punctuation filter", async () => {
    file("wn/data.adj", adj);
    file("wn/data.verb", LICENSE);
    file("wn/data.adv", LICENSE + "00001740 02 r 01 a_cappella 0 000 | without accompaniment  \n");
    const words = file("words.txt", "zebra\n  cat  \n\n.\nentity\n");
    const uni = file("uni.tsv", "apple\t100\nbanana\t99\nbad line\ncherry\tnotanumber\n42\t500\n");
    const bi = file("bi.tsv", "ice cream\t30.5\nof the\t2.1\n");
    const titles = file("titles.tsv", "Eiffel_Tower\t70\nFile:Foo.jpg\t1000\nObscure_Page\t69\n");
    const r = await buildMetadata({
      wordnet: [path.join(dir, "wn")], wordlists: [words], unigrams: [uni], bigrams: [bi], titles: [titles],
    });
    const numbers = Array.from({ length: 100 }, (_, i) => String(i));
    expect(r.entries).toEqual([
      ...numbers,
      "entity", "abstraction", "dog", "new york", // noun
      "able", "long", "afraid", // adj ("dog" again is a duplicate)
      "a cappella", // adv
      "zebra", "cat", // word list ("." is punctuation, "entity" a duplicate)
      "apple", // unigram >= 100 ("42" is already there)
      "ice cream", // bigram PMI >= 30
      "Eiffel Tower", // title views >= 70, "_" -> space, "File:..." skipped
    ]);
    const uniReport = r.sources.find((s) => s.source === "unigram")!;
    expect(uniReport).toMatchObject({ read: 2, added: 1, badLines: 2, belowThreshold: 1 });
    const custom = await buildMetadata({ unigrams: [uni], thresholds: { unigram: 99 }, numbers: false });
    expect(custom.entries).toEqual(["apple", "banana", "42"]);
  });

  it("fails on a WordNet folder without the data files", async () => {
    await expect(buildMetadata({ wordnet: [path.join(dir, "nowhere")] })).rejects.toThrow(/nowhere: WordNet path does not exist/);
    mkdirSync(path.join(dir, "emptywn"), { recursive: true });
    await expect(buildMetadata({ wordnet: [path.join(dir, "emptywn")] })).rejects.toThrow(/emptywn\/data.noun: cannot read/);
  });

  it("validates metadata files and names the file and index", async () => {
    expect(await loadMetadata(file("ok.json", '["a", "b c"]'))).toEqual(["a", "b c"]);
    const bad: [string, string, RegExp][] = [
      ["obj.json", '{"a": 1}', /obj.json: metadata must be a JSON array of strings, got object/],
      ["mixed.json", '["a", "b", "c", 4]', /mixed.json: metadata entry at index 3 is not a string \(got 4\)/],
      ["broken.json", '["a", ', /broken.json: metadata is not valid JSON/],
      ["empty.json", "[]", /empty.json: metadata has no entries/],
    ];
    for (const [name, text, re] of bad) {
      const err = await loadMetadata(file(name, text)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(re);
    }
    await expect(loadMetadata(path.join(dir, "missing.json"))).rejects.toThrow(/missing.json: cannot read metadata \(ENOENT\)/);
  });
});
