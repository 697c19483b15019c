// The tar reader (formats/input/tar-reader.ts) against archives written by
// GNU tar in its three formats (gnu: "L" long-name headers; pax: "x"
// extended headers; ustar: the name prefix field) and by tar-stream, fed in
// chunks of odd sizes so headers and data straddle chunk boundaries, and
// against tar-stream's own extract on the same bytes. Then the ways a tar
// breaks: cut inside a member, cut inside a header, not a tar, a read error.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { tarMembers, TarReadError, type TarMember } from "../../src/formats/input/tar-reader.js";
import { writeTar } from "./fixtures.js";

async function* chunked(bytes: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  for (let off = 0, i = 0; off < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield bytes.subarray(off, off + n);
    off += n;
  }
}

async function read(bytes: Buffer, sizes = [7, 1000, 511, 65536], limit = Infinity): Promise<TarMember[]> {
  const out: TarMember[] = [];
  for await (const m of tarMembers(chunked(bytes, sizes), () => limit)) out.push(m);
  return out;
}

/** tar-stream's extract on the same bytes: name, type and data of each member. */
async function referenceRead(bytes: Buffer): Promise<{ name: string; type: string; data: Buffer }[]> {
  const ex = tar.extract();
  const out: { name: string; type: string; data: Buffer }[] = [];
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      out.push({ name: e.header.name, type: e.header.type ?? "", data: Buffer.concat(chunks) });
    }
  })();
  ex.end(bytes);
  await done;
  return out;
}

const files = (ms: TarMember[]) => ms.filter((m) => m.type === "file").map((m) => ({ name: m.name, data: m.data }));

describe("tar reader", () => {
  const work = mkdtempSync(path.join(tmpdir(), "clipts-tarreader-"));
  const long = `${"d".repeat(60)}/${"e".repeat(70)}/${"k".repeat(120)}.jpg`; // over ustar's 100 + 155
  const src = path.join(work, "src");
  const contents: Record<string, Buffer> = {
    "a.txt": Buffer.from("a caption"),
    "empty.txt": Buffer.alloc(0),
    "block.bin": Buffer.alloc(512, 7), // exactly one block: no padding
    "big.bin": Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 131) & 255)),
    [`${"p".repeat(90)}/${"q".repeat(90)}.txt`]: Buffer.from("prefix field"), // ustar's prefix + name
    [long]: Buffer.from("a long name"),
  };
  for (const [name, data] of Object.entries(contents)) {
    mkdirSync(path.dirname(path.join(src, name)), { recursive: true });
    writeFileSync(path.join(src, name), data);
  }
  const sorted = Object.keys(contents).sort();

  for (const format of ["gnu", "pax", "ustar"] as const) {
    it(`reads GNU tar's ${format} format: every file whole, folders as "other", the same as tar-stream`, async () => {
      const names = format === "ustar" ? sorted.filter((n) => n !== long) : sorted; // ustar cannot hold the long name
      const file = path.join(work, `${format}.tar`);
      execFileSync("tar", [`--format=${format}`, "-cf", file, "-C", src, "--no-recursion", ...names]);
      const bytes = readFileSync(file);
      const got = await read(bytes);
      expect(files(got)).toEqual(names.map((name) => ({ name, data: contents[name] })));
      for (const sizes of [[13], [512], [513, 100_000]]) expect(files(await read(bytes, sizes))).toEqual(files(got));
      // Each member's offset is where its bytes lie in the tar (the loader reads images there).
      for (const m of got.filter((m) => m.type === "file")) expect(bytes.subarray(m.offset, m.offset + m.size).equals(m.data!)).toBe(true);
      const ref = await referenceRead(bytes);
      expect(got.map((m) => [m.name, m.type === "file"])).toEqual(ref.filter((r) => r.type !== "pax-header" && r.type !== "gnu-long-path").map((r) => [r.name, r.type === "file"]));
    });
  }

  it("reads tar-stream's archives (the test fixtures' writer), folders included, and skips a member over the limit", async () => {
    const bytes = await writeTar(path.join(work, "ts.tar"), [{ name: "x.jpg", data: contents["big.bin"]! }, { name: "x.txt", data: "cap" }, { name: long, data: "long" }]);
    const got = await read(bytes);
    expect(files(got)).toEqual([{ name: "x.jpg", data: contents["big.bin"] }, { name: "x.txt", data: Buffer.from("cap") }, { name: long, data: Buffer.from("long") }]);
    const limited = await read(bytes, [4096], 1000);
    expect(limited.map((m) => [m.name, m.size, m.data?.length ?? null])).toEqual([["x.jpg", 300_000, null], ["x.txt", 3, 3], [long, 4, 4]]);
    const dir = path.join(work, "withdir.tar");
    execFileSync("tar", ["--format=gnu", "-cf", dir, "-C", src, "a.txt", path.dirname(long).split("/")[0]!]);
    const withDir = await read(readFileSync(dir));
    expect(withDir.filter((m) => m.type === "other").map((m) => m.name)).toEqual([`${"d".repeat(60)}/`, `${"d".repeat(60)}/${"e".repeat(70)}/`]);
    expect(files(withDir).map((m) => m.name)).toEqual(["a.txt", long]);
  });

  it("says where a tar broke: inside a member (with its name), inside a header, not a tar, a failed read", async () => {
    const bytes = await writeTar(path.join(work, "cut.tar"), [{ name: "a.txt", data: "x".repeat(2000) }, { name: "b.jpg", data: contents["big.bin"]! }]);
    const fail = async (b: Buffer | AsyncIterable<Buffer>) => {
      try {
        for await (const _ of tarMembers(Buffer.isBuffer(b) ? chunked(b, [999]) : b, () => Infinity)) void _;
      } catch (e) {
        return e as TarReadError;
      }
      throw new Error("no error");
    };
    const inB = await fail(bytes.subarray(0, 512 + 2048 + 512 + 1000));
    expect(inB).toBeInstanceOf(TarReadError);
    expect([inB.member, inB.message]).toEqual(["b.jpg", "tar ended inside a member"]);
    const inHeader = await fail(bytes.subarray(0, 512 + 2048 + 100));
    expect([inHeader.member, inHeader.message]).toEqual([null, "tar ended inside a header (100 of 512 bytes)"]);
    expect((await fail(Buffer.alloc(3000, 0x41))).message).toMatch(/checksum mismatch/);
    // Cut exactly between members: the members before the cut, no error.
    expect((await read(bytes.subarray(0, 512 + 2048))).map((m) => m.name)).toEqual(["a.txt"]);
    async function* broken(): AsyncGenerator<Buffer> {
      yield bytes.subarray(0, 512 + 2048 + 512 + 10);
      throw new Error("command failed (exit 1)");
    }
    const failed = await fail(broken());
    expect([failed.member, failed.message]).toEqual(["b.jpg", "command failed (exit 1)"]);
  });
});
