// Webdataset tars read in place by the loader: the same batches as the Arrow
// shards ingested from the same tars (same seed), exact resume in the middle
// of a tar, brace lists and pipe: commands, and a cut tar or a failing
// command reported with the tar's name while the other tars' rows arrive.
import { mkdirSync, mkdtempSync, readFileSync, truncateSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { ingest } from "../../src/data/ingest.js";
import { Loader, type LoaderOptions } from "../../src/data/loader.js";
import { expandBraces, isTarPool, tarManifest, tarShards } from "../../src/formats/webdataset.js";
import { matchInput } from "../../src/curation/metaclip/match.js";
import { balanceFile } from "../../src/curation/metaclip/balance-file.js";
import { openSelection } from "../../src/formats/selection.js";
import { readCaptionShards } from "../../src/eval/retrieval.js";
import { parseSuite } from "../../src/eval/suite.js";
import { mergeShardFolders } from "../../src/formats/merge-shards.js";
import { listShards, readShard, verifyShards } from "../../src/formats/shards.js";
import { charTokenize } from "./loader-fixtures.js";
import { makeImage, writeParquet, writeTar } from "./fixtures.js";
import { openTarShard } from "../../src/formats/tar-shard.js";

const work = mkdtempSync(path.join(tmpdir(), "clipts-tarpool-"));
const TARS = 3, PER_TAR = 12;
let tarsDir: string;
let shardsDir: string;

beforeAll(async () => {
  tf.setBackend("cpu");
  tarsDir = path.join(work, "tars");
  const kinds = ["jpeg", "png", "webp"] as const;
  for (let t = 0; t < TARS; t++) {
    const members: { name: string; data: Buffer | string }[] = [];
    for (let i = 0; i < PER_TAR; i++) {
      const key = `${String(t).padStart(5, "0")}${String(i).padStart(4, "0")}`;
      const kind = kinds[(t + i) % 3]!;
      members.push({ name: `${key}.${kind === "jpeg" ? "jpg" : kind}`, data: await makeImage(kind, 20 + i, 16 + t, t * 100 + i) });
      members.push({ name: `${key}.txt`, data: `a photo of item ${t}-${i}` });
      members.push({ name: `${key}.json`, data: JSON.stringify({ key, status: "success" }) });
    }
    await writeTar(path.join(tarsDir, `${String(t).padStart(5, "0")}.tar`), members);
  }
  shardsDir = path.join(work, "shards");
  // One Arrow shard per tar, rows in member order: the same pool in the other form.
  await ingest({ input: tarsDir, output: shardsDir, rowsPerShard: PER_TAR, quiet: true });
});

const opts = (dir: string, extra: Partial<LoaderOptions> = {}): LoaderOptions => ({
  dir, batchSize: 5, tokenize: charTokenize(16), contextLength: 16, imageSize: 12, seed: 7, epochs: 2,
  workers: 0, shuffleBuffer: 8, verifyHashes: false, ...extra,
});

async function batches(loader: Loader, limit = Infinity): Promise<{ keys: string[]; tokens: number[]; images: number[] }[]> {
  const out = [];
  for await (const b of loader) {
    out.push({ keys: b.keys, tokens: Array.from(b.tokens.dataSync()), images: Array.from(b.images.dataSync()) });
    tf.dispose([b.images, b.tokens]);
    if (out.length >= limit) break;
  }
  await loader.close();
  return out;
}

describe("webdataset tars read in place", () => {
  it("gives the same batches (keys, tokens, pixels) as the Arrow shards ingested from them", async () => {
    const fromArrow = await batches(new Loader(opts(shardsDir)));
    const fromTars = await batches(new Loader(opts(path.join(tarsDir, "{00000..00002}.tar"))));
    expect(fromArrow.length).toBe(Math.floor((2 * TARS * PER_TAR) / 5));
    expect(fromTars).toEqual(fromArrow);
    // Local tars' images are read by the decode workers where they lie; piped tars' come as bytes.
    const piped = [0, 1, 2].map((i) => `pipe:cat ${path.join(tarsDir, `0000${i}.tar`)}`).join("::");
    expect(await batches(new Loader(opts(piped)))).toEqual(fromArrow);
    // Shuffled: not the tars' member order.
    expect(fromTars[0]!.keys).not.toEqual(["000000000", "000000001", "000000002", "000000003", "000000004"]);
  });

  it("resumes in the middle of a tar exactly where the uninterrupted run was", async () => {
    // Snapshots every 4 rows: the restore re-reads buffered rows from the tars it names.
    const spec = tarsDir, every = { snapshotEvery: 4 };
    const whole = await batches(new Loader(opts(spec, every)));
    const first = new Loader(opts(spec, every));
    const head: typeof whole = [];
    for await (const b of first) {
      head.push({ keys: b.keys, tokens: Array.from(b.tokens.dataSync()), images: Array.from(b.images.dataSync()) });
      tf.dispose([b.images, b.tokens]);
      if (head.length === 3) break; // 15 of 36 rows: inside the second tar read
    }
    const state = first.state();
    await first.close();
    expect(state.stream.buffer.length).toBeGreaterThan(0);
    const rest = await batches(new Loader(opts(spec, { ...every, resumeFrom: state })));
    expect([...head, ...rest]).toEqual(whole);
  });

  it("repeats a tar's rows (language upsampling) with decode workers: every copy decodes", async () => {
    // Images over 4 KiB: a tar member then has a buffer of its own, which a worker could take.
    const file = path.join(work, "big", "00000.tar");
    const members: { name: string; data: Buffer | string }[] = [];
    for (let i = 0; i < 6; i++) members.push({ name: `b${i}.png`, data: await makeImage("png", 96, 96, 500 + i) }, { name: `b${i}.txt`, data: `big ${i}` });
    expect(members.every((m) => typeof m.data === "string" || m.data.length > 4096)).toBe(true);
    await writeTar(file, members);
    // In place (spans of the tar) and piped (bytes given to the workers).
    for (const spec of [file, `pipe:cat ${file}`]) {
      const loader = new Loader(opts(spec, { mode: "eval", epochs: 1, batchSize: 4, workers: 1, repeats: () => 2 }));
      const keys = (await batches(loader)).flatMap((b) => b.keys);
      expect(loader.stats().skipped).toBe(0);
      expect(keys).toHaveLength(12);
      expect(new Set(keys).size).toBe(6);
    }
  });

  it("reports a cut tar and a failing pipe: command by name, counts a sample without an image, and keeps the other rows", async () => {
    const dir = path.join(work, "bad");
    mkdirSync(path.join(dir, "missing"), { recursive: true });
    const good = path.join(tarsDir, "00000.tar");
    const cutFile = path.join(dir, "00001.tar");
    writeFileSync(cutFile, readFileSync(path.join(tarsDir, "00001.tar")));
    truncateSync(cutFile, Math.floor(statSync(cutFile).size / 2));
    const noImage = path.join(dir, "00003.tar");
    await writeTar(noImage, [{ name: "lonely.txt", data: "a caption without its image" }, { name: "ok.png", data: await makeImage("png", 8, 8, 1) }, { name: "ok.txt", data: "fine" }]);
    const spec = [good, cutFile, `pipe:cat ${path.join(dir, "missing", "00002.tar")}`, `pipe:cat ${noImage}`].join("::");
    const loader = new Loader(opts(spec, { mode: "eval", epochs: 1, batchSize: 1 }));
    const keys = (await batches(loader)).flatMap((b) => b.keys);
    const st = loader.stats();
    expect(Object.keys(st.truncatedShards).sort()).toEqual(["00001.tar", "00002.tar"]);
    expect(st.truncatedShards["00002.tar"]!.reason).toMatch(/command failed \(exit 1\): cat .*00002\.tar/);
    expect(st.byReason["bad-sample"]).toBe(1);
    expect(st.skippedSamples.find((s) => s.reason === "bad-sample")).toMatchObject({ key: "lonely", shard: "00003.tar" });
    // Every row of the good tar, the cut tar's complete samples before the cut, and the piped tar's good sample.
    const cutRows = keys.filter((k) => k.startsWith("00001"));
    expect(keys.filter((k) => k.startsWith("00000"))).toHaveLength(PER_TAR);
    expect(cutRows.length).toBeGreaterThan(0);
    expect(cutRows.length).toBeLessThan(PER_TAR);
    expect(keys.at(-1)).toBe("ok");
  });

  it("is curated in place: curate match + balance on the tars give a selection the loader honours on the tars", async () => {
    const metadata = path.join(work, "metadata.json");
    writeFileSync(metadata, JSON.stringify(["photo", "item 0-1", "item 1-2", "item 2-3"]));
    const spec = path.join(tarsDir, "{00000..00002}.tar");
    const onTars = await matchInput({ metadata, input: spec, output: path.join(work, "m-tars"), quiet: true });
    const onShards = await matchInput({ metadata, input: shardsDir, output: path.join(work, "m-shards"), quiet: true });
    expect(onTars.kind).toBe("shards");
    if (onTars.kind !== "shards" || onShards.kind !== "shards") return;
    expect(onTars.result.stats).toMatchObject({ shards: TARS, rows: TARS * PER_TAR, badRows: 0 });
    expect(Array.from(onTars.result.counts)).toEqual(Array.from(onShards.result.counts));
    // Sidecars keyed by the tar's name and the sample's ordinal in it.
    const first = JSON.parse(readFileSync(onTars.result.sidecars[1]!, "utf8").split("\n")[3]!) as { key: string; shard: string; row: number };
    expect(first).toMatchObject({ key: "000010003", shard: "00001.tar", row: 3 });
    const bal = await balanceFile({ metadata, matches: path.join(work, "m-tars"), t: 2, seed: 1, output: path.join(work, "b-tars"), quiet: true });
    const kept = readFileSync(bal.files.kept, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { key: string }).key);
    expect(kept.length).toBeGreaterThan(2);
    expect(kept.length).toBeLessThan(TARS * PER_TAR);
    const loader = new Loader(opts(spec, { mode: "eval", epochs: 1, batchSize: 1, selection: openSelection(bal.files.selection!) }));
    const seen = (await batches(loader)).flatMap((b) => b.keys);
    expect(seen.sort()).toEqual([...kept].sort());
  });

  it("gives retrieval evaluation the same split (keys, captions, image bytes) from tars as from the shards", async () => {
    const read = async (dir: string) => {
      const split = await readCaptionShards(dir);
      const images: number[][] = [];
      for await (const img of split.images()) images.push(Array.from(await img()));
      return { keys: split.imageKeys, captions: split.captions, textImage: split.textImage, images };
    };
    const fromTars = await read(tarsDir);
    expect(fromTars.keys).toHaveLength(TARS * PER_TAR);
    expect(fromTars).toEqual(await read(shardsDir));
    // An eval suite names tars as it names a shard folder: relative to the suite file, pipe: left alone.
    const suiteFile = path.join(work, "suite.yaml");
    const suite = parseSuite(`name: t\ntasks:\n  - name: r\n    type: retrieval\n    shards: "tars/{00000..00001}.tar::pipe:cat ${tarsDir}/00002.tar"\n`, suiteFile);
    expect((suite.tasks[0] as { shards: string }).shards).toBe(`${tarsDir}/{00000..00001}.tar::pipe:cat ${tarsDir}/00002.tar`);
    expect(() => parseSuite("name: t\ntasks:\n  - name: r\n    type: retrieval\n    shards: tars/{00000..00004}.tar\n", suiteFile)).toThrow(/tasks\[0\]\.shards: .*00003\.tar not found/);
  });

  it("ingests over a job array (--shard i/n) and merges the parts into the dataset one task would write", async () => {
    const out = path.join(work, "job");
    const parts = [];
    for (const index of [0, 1]) parts.push((await ingest({ input: tarsDir, output: path.join(out, "part"), rowsPerShard: PER_TAR, shard: { index, count: 2 }, quiet: true })).output);
    expect(parts).toEqual([path.join(out, "part-0-of-2"), path.join(out, "part-1-of-2")]);
    await expect(ingest({ input: tarsDir, output: path.join(out, "part"), shard: { index: 3, count: 4 }, quiet: true })).rejects.toThrow(/--shard 3\/4: no input file for this task \(3 input file\(s\) for 4 tasks\)/);
    const merged = path.join(out, "merged");
    const m = await mergeShardFolders(parts, merged);
    expect(m.rows).toBe(TARS * PER_TAR);
    expect(m.shards.map((s) => s.file)).toEqual(["part0000-shard-000000.arrow", "part0000-shard-000001.arrow", "part0001-shard-000000.arrow"]);
    expect((await verifyShards(merged)).ok).toBe(true);
    // Row for row what the one-task ingest holds (task 0 took tars 0 and 2, task 1 tar 1).
    const rows = async (dir: string) => {
      const byKey = new Map<string, string>();
      for (const s of (await listShards(dir)).shards) {
        for await (const { sample } of readShard(path.join(dir, s.file))) byKey.set(sample.key, `${sample.caption}|${Buffer.from(sample.image).toString("base64")}`);
      }
      return byKey;
    };
    expect(await rows(merged)).toEqual(await rows(shardsDir));
    await expect(mergeShardFolders(parts, merged)).rejects.toThrow(/not empty; merge into a new folder/);
  });

  it("takes a tar's per-sample metadata from the SHARD.parquet beside it, as ingest does", async () => {
    const dir = path.join(work, "pq");
    const tarFile = path.join(dir, "00000.tar");
    await writeTar(tarFile, [{ name: "a.png", data: await makeImage("png", 8, 8, 1) }, { name: "a.txt", data: "ein Bild" }, { name: "b.png", data: await makeImage("png", 8, 8, 2) }, { name: "b.txt", data: "a picture" }]);
    await writeParquet(path.join(dir, "00000.parquet"), [
      { name: "key", data: ["a", "b"], type: "STRING" },
      { name: "lang", data: ["de", "en"], type: "STRING" },
      { name: "status", data: ["success", "success"], type: "STRING" },
    ]);
    const tar = await openTarShard("00000.tar", tarFile);
    expect([tar.get(0).lang, tar.get(1).lang]).toEqual(["de", "en"]);
    const out = path.join(work, "pq-shards");
    await ingest({ input: dir, output: out, quiet: true });
    const ingested = [];
    for await (const { sample } of readShard(path.join(out, (await listShards(out)).shards[0]!.file))) ingested.push(sample.lang);
    expect(ingested).toEqual(["de", "en"]);
  });

  it("expands brace lists (padded ranges, lists, several groups) and names tars for keying", () => {
    expect(expandBraces("s/{008..011}.tar")).toEqual(["s/008.tar", "s/009.tar", "s/010.tar", "s/011.tar"]);
    expect(expandBraces("{a,b}/{0..1}.tar")).toEqual(["a/0.tar", "a/1.tar", "b/0.tar", "b/1.tar"]);
    expect(() => expandBraces("s/{9..1}.tar")).toThrow(/runs backwards/);
    expect(() => expandBraces("s/{x}.tar")).toThrow(/neither a range/);
    expect(tarShards("pipe:aws s3 cp s3://b/p/00007.tar -::x/00008.tar")).toEqual([
      { name: "00007.tar", source: "pipe:aws s3 cp s3://b/p/00007.tar -" },
      { name: "00008.tar", source: "x/00008.tar" },
    ]);
    expect(() => tarShards("a/00001.tar::b/00001.tar")).toThrow(/two tars are named 00001\.tar/);
    expect(isTarPool(tarsDir)).toBe(true);
    expect(isTarPool(shardsDir)).toBe(false);
    expect(() => tarManifest(path.join(tarsDir, "{00000..00003}.tar"))).toThrow(/00003\.tar not found/);
  });
});
